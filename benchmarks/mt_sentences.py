"""Chinese sentences for the translation-stage benchmark (written for this project).

No Chinese speech is available from the package registries, so the
translation stage is measured on text: sentences of the length and register of
spoken Chinese (a talk, a meeting, small talk), from 6 to about 60 characters.
Throughput and flicker need no reference translation; agreement is measured
against the offline translation of the same final text.
"""

from __future__ import annotations

SENTENCES_ZH: tuple[str, ...] = (
    "大家好。",
    "谢谢大家今天来参加这次会议。",
    "我们先简单回顾一下上个季度的工作。",
    "今天的天气非常好，我们可以去公园散步。",
    "这个项目的主要目标是降低语音识别的延迟。",
    "请大家把手机调成静音模式。",
    "我想问一个关于数据安全的问题。",
    "如果网络连接不稳定，系统会自动重试。",
    "我们的团队在过去三个月里完成了很多工作。",
    "下午三点我们在二楼的会议室见面。",
    "这家餐厅的菜很好吃，但是价格有点贵。",
    "他说明天早上要去机场接他的父母。",
    "我觉得这个方案还需要再讨论一下。",
    "学生们正在图书馆里准备期末考试。",
    "请问最近的地铁站怎么走？",
    "新的版本比旧的版本快了大约百分之三十。",
    "我们需要在下周五之前提交最终报告。",
    "这本书讲的是一个普通人如何改变自己的命运。",
    "会议结束以后，请把你们的意见发给我。",
    "如果你有任何问题，可以随时联系我们。",
    "很多城市都在发展公共交通，减少空气污染。",
    "我们用同一个模型同时为很多用户提供服务。",
    "翻译的质量取决于训练数据的数量和质量。",
    "她每天早上六点起床，然后去跑步。",
    "这个问题比我们想象的要复杂得多。",
    "我们公司明年计划在欧洲开设两个新的办公室。",
    "孩子们在学校里学习数学、语文和英语。",
    "你能再说一遍吗？我刚才没有听清楚。",
    "由于天气原因，今天的航班全部取消了。",
    "他们在会上讨论了如何提高产品的用户体验。",
    "实时字幕可以帮助听力有障碍的人参加会议。",
    "我们应该先解决最重要的问题，再考虑其他的细节。",
    "医生建议他多喝水，多休息，少吃油腻的食物。",
    "这次演讲的主题是人工智能在医疗领域的应用。",
    "我昨天晚上看了一部很有意思的电影。",
    "经济增长放缓以后，很多企业开始削减成本。",
    "每个参会者都可以用自己的语言收听翻译。",
    "系统会把识别出来的文字分成句子，然后逐句翻译。",
    "虽然我们遇到了很多困难，但是最后还是按时完成了任务。",
    "感谢各位的耐心聆听，现在进入提问环节。",
)
