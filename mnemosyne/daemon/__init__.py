"""The long-running instance: lifecycle, main loop, signals and systemd integration."""
