#!/bin/sh
# Builds the password file from MQTT_USERS ("user:password user:password ...") at start,
# so no secret is baked into an image or committed. Mosquitto drops to user "mosquitto",
# which must be able to read the file (and nobody else).
set -eu
PASSWD=/mosquitto/config/passwd
umask 077
: > "$PASSWD"
for pair in ${MQTT_USERS:?set MQTT_USERS to "user:password ..."}; do
    case "$pair" in
        *:?*) mosquitto_passwd -b "$PASSWD" "${pair%%:*}" "${pair#*:}" ;;
        *) echo "entrypoint: MQTT_USERS entry '${pair%%:*}' has no password" >&2; exit 2 ;;
    esac
done
chown mosquitto:mosquitto "$PASSWD" 2>/dev/null || true
chmod 0600 "$PASSWD"
exec mosquitto -c /mosquitto/config/mosquitto.conf
