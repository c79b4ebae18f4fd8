"""Packaging hook: the screens (display/, kiosk/) go into the wheel as server/frontend/.

They live at the top of the repository (plain HTML/CSS/JS, no build step), so a
wheel would otherwise ship a server with no screens. Editable installs serve
them from the checkout; see server.app.frontend_root.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

SCREENS = ("display", "kiosk")


class BuildWithScreens(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # served from the checkout itself
            return
        for folder in SCREENS:
            self.copy_tree(folder, os.path.join(self.build_lib, "server", "frontend", folder))


setup(cmdclass={"build_py": BuildWithScreens})
