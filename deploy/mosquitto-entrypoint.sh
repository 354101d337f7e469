#!/bin/sh
# Start mosquitto with the two users of deploy/mosquitto.acl, their passwords
# hashed from the environment into the password file mosquitto.conf names
# (on a tmpfs / emptyDir: the hashes are made again at each start).
#
#   MQTT_PARLEY_PASSWORD     the replicas' password (in PARLEY_MQTT_URL)
#   MQTT_CAPTIONS_PASSWORD   the caption consumers' password
#   MOSQUITTO_PASSWORD_FILE  default /mosquitto/auth/passwd
#   MOSQUITTO_CONFIG         default /mosquitto/config/mosquitto.conf
set -eu
: "${MQTT_PARLEY_PASSWORD:?set MQTT_PARLEY_PASSWORD, the Parley replicas broker password}"
: "${MQTT_CAPTIONS_PASSWORD:?set MQTT_CAPTIONS_PASSWORD, the caption consumers broker password}"
passwd="${MOSQUITTO_PASSWORD_FILE:-/mosquitto/auth/passwd}"
umask 077
mosquitto_passwd -c -b "$passwd" parley "$MQTT_PARLEY_PASSWORD"
mosquitto_passwd -b "$passwd" captions "$MQTT_CAPTIONS_PASSWORD"
# Started as root (the image's default), mosquitto reads the file as the user it
# drops to.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto: "$passwd"
fi
exec mosquitto -c "${MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}"
