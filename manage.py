#!/usr/bin/env python
"""Django's command-line utility for the geoportal."""

import os
import sys


def main() -> None:
    from geoportal.embedded.account import become_service_account

    become_service_account()  # as root: the rest runs as the portal's account (geoportal/embedded/account.py)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
