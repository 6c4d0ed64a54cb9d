#!/bin/sh
# Runs on the machine. kiln sets PACKER_BUILD_NAME and PACKER_BUILDER_TYPE (and KILN_* copies)
# beside the template's environment_vars.
set -eu
echo "$GREETING: build $PACKER_BUILD_NAME ($PACKER_BUILDER_TYPE) on $(uname -n)"
test -f "$REMOTE_DIR/etc/app.conf"
{
    echo "build: $PACKER_BUILD_NAME"
    echo "kernel: $(uname -sr)"
    echo "files:"
    (cd "$REMOTE_DIR" && find . -type f | sort)
} > "$REMOTE_DIR/report.txt"
echo "wrote $REMOTE_DIR/report.txt"
