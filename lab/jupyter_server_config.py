# The configuration `make lab` runs JupyterLab with (JUPYTER_CONFIG_PATH=lab): offline, on
# loopback, and notebooks saved without their outputs. Beside it, labconfig/page_config.json
# turns off the announcements plugin, which otherwise asks on first start whether to fetch
# "official Jupyter news" from the internet.
import os

c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file

c.ServerApp.ip = "127.0.0.1"
# JupyterLab refuses to start as root unless told to; containers and CI machines often run as
# root, so say so only then.
c.ServerApp.allow_root = os.geteuid() == 0
# No news feed and no update check: both would go online.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
# notebooks/ holds sources only: outputs, execution counts and widget state are stripped from
# every notebook before it is written (chronik_lab/notebook/saving.py).
c.ContentsManager.pre_save_hook = "chronik_lab.notebook.saving.strip_before_save"
