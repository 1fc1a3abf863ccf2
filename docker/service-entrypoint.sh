#!/bin/sh
# Every service container's entry point (under tini). Replicas of one service read the same
# consumer groups, so each needs a name of its own: its container's host name, unless
# CONSUMER_NAME says otherwise. The first argument is the service's command.
set -eu
if [ -z "${CONSUMER_NAME:-}" ]; then
  CONSUMER_NAME="$1-$(cat /proc/sys/kernel/hostname)"
  export CONSUMER_NAME
fi
exec "$@"
