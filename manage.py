#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Management commands on a developer machine work with no configuration; production sets
    # DEBUG=false (and SECRET_KEY) in its environment, and the WSGI/ASGI entry points default
    # to DEBUG off.
    os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
