"""Split EC2 user data with cloud-init's own parser and lay the parts out the way cloud-init does.

Usage: cloud-init-parts.py <user-data file> <output dir>
Prints a JSON list of {"contentType", "filename", "path"} in document order. Boothooks are written
by cloud-init's own BootHookPartHandler code (prefix stripped, mode 0700); shell scripts as its
ShellScriptPartHandler writes them (verbatim, mode 0700). Both are then executed directly, as
cloud-init does (no shell in between), so a part without a usable shebang fails here as on EC2.
"""
import json
import os
import sys

from cloudinit import user_data
from cloudinit.handlers.boot_hook import BootHookPartHandler


class _Paths:
    """The one method of cloudinit.helpers.Paths that BootHookPartHandler uses."""

    def __init__(self, root):
        self.root = root

    def get_ipath(self, name):
        return os.path.join(self.root, name)


def main(source, out_dir):
    with open(source, "rb") as handle:
        message = user_data.UserDataProcessor({}).process(handle.read())
    boothooks = BootHookPartHandler(_Paths(out_dir), None)
    scripts_dir = os.path.join(out_dir, "scripts")
    os.makedirs(scripts_dir, exist_ok=True)
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        content_type = part.get_content_type()
        filename = part.get_filename()
        payload = part.get_payload(decode=True).decode("utf-8")
        path = None
        if content_type == "text/cloud-boothook":
            os.makedirs(boothooks.boothook_dir, exist_ok=True)
            path = boothooks._write_part(payload, filename)
        elif content_type == "text/x-shellscript":
            path = os.path.join(scripts_dir, filename)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.chmod(path, 0o700)
        parts.append({"contentType": content_type, "filename": filename, "path": path})
    json.dump(parts, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
