#!/bin/sh
# System packages the C-library tests need: a C compiler and make (host build), the Arm
# cross compiler with newlib (Cortex-M4 build) and QEMU (to run it); the studio's browser
# tests need Chromium and its WebDriver (chromium, chromium-driver). Installed with apt-get
# when missing and running as root; otherwise the missing ones are named and the tests that
# need them skip, saying why. Never fails the caller: the Python tests run either way.
missing=""
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  missing="$missing gcc-arm-none-eabi libnewlib-arm-none-eabi"
elif [ "$(arm-none-eabi-gcc -print-file-name=rdimon.specs)" = "rdimon.specs" ]; then
  missing="$missing libnewlib-arm-none-eabi"
fi
command -v qemu-system-arm >/dev/null 2>&1 || missing="$missing qemu-system-arm"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing$missing"
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $missing >/dev/null; then
    exit 0
  fi
  echo "system-deps: apt-get could not install$missing; the tests that need them skip" >&2
else
  echo "system-deps: missing$missing (not root or no apt-get: install them yourself);" \
       "the tests that need them skip" >&2
fi
exit 0
