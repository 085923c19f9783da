#!/bin/sh
# Asks the demo's db for a pong, from an image krun built.
echo "tools: built by krun, asking db"
echo ping | nc db 5432
