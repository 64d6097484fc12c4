#!/bin/sh
# Builds the password file from MQTT_USERS ("user:password user:password ...") at start,
# so no secret is baked into an image or committed.
set -eu
: > /mosquitto/config/passwd
chmod 0700 /mosquitto/config/passwd
for pair in ${MQTT_USERS:?set MQTT_USERS to "user:password ..."}; do
    mosquitto_passwd -b /mosquitto/config/passwd "${pair%%:*}" "${pair#*:}"
done
exec mosquitto -c /mosquitto/config/mosquitto.conf
