"""Secrets on disk and in text: files only their owner can read, and endpoints printed bare.

Every host-side room (gateway, ingest, tools) reads its passwords, tokens and keys through
this module, so the rules hold everywhere:

- a secret never travels in argv (every user of the machine reads /proc/PID/cmdline) nor in
  a URL (URLs end up in logs and error messages): it comes from a file or an environment
  variable;
- a secrets file is created with mode 0600 atomically (there is no moment when it exists
  with wider permissions, or half written), and a file that the group or others can read
  is refused, because its secret must be taken as already leaked;
- anything that prints an address prints it without userinfo.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import tempfile
from pathlib import Path


class SecretError(ValueError):
    """A secret is missing, unreadable or exposed; the message says what to do."""


def write_secret(path: Path | str, data: str | bytes) -> Path:
    """Write `data` to `path` with mode 0600, atomically (temp file, fsync, rename).

    The parent directory is created with mode 0700 if missing.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    # mkstemp creates the file with O_EXCL and mode 0600 whatever the umask.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_private(path: Path | str, what: str = "secrets file") -> None:
    """Refuse a file that the group or others may read or write."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SecretError(f"{what} {path} does not exist") from None
    if mode & 0o077:
        raise SecretError(
            f"{what} {path} is readable by others (mode {stat.S_IMODE(mode):04o}): its "
            f"secret must be taken as leaked. Change it, then `chmod 600 {path}`."
        )


def read_secret(path: Path | str, what: str = "secrets file") -> str:
    """The text of a private secrets file, without its trailing newline."""
    check_private(path, what)
    try:
        return Path(path).read_text().rstrip("\n")
    except OSError as exc:
        raise SecretError(f"cannot read {what} {path}: {exc.strerror}") from None


def password_from(file: str | Path | None, env: str, what: str) -> str | None:
    """A password from `file` (a private file) if given, else from the variable `env`.

    None when neither is set: the caller decides whether a password is required.
    """
    if file:
        password = read_secret(file, f"{what} password file")
        if not password:
            raise SecretError(f"{what} password file {file} is empty")
        return password
    return os.environ.get(env) or None


# scheme://userinfo@host -> scheme://host; also the bare userinfo@host:port form.
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)?[^\s/@:]+(?::[^\s/@]*)?@(?=[^\s@])")


def redact(text: str) -> str:
    """`text` with the userinfo (user:password@) of every address in it removed."""
    return _USERINFO.sub(lambda m: m.group("scheme") or "", text)


def add_login_options(parser: argparse.ArgumentParser, flag: str, env: str, what: str) -> None:
    """`--FLAG-user` and `--FLAG-password-file`, defaulting to $ENV_USER and
    $ENV_PASSWORD_FILE; without a file, the password is taken from $ENV_PASSWORD."""
    parser.add_argument(
        f"--{flag}-user",
        default=os.environ.get(f"{env}_USER"),
        help=f"{what} username (default ${env}_USER)",
    )
    parser.add_argument(
        f"--{flag}-password-file",
        default=os.environ.get(f"{env}_PASSWORD_FILE"),
        help=f"file (mode 0600) holding the {what} password (default ${env}_PASSWORD_FILE; "
        f"else the password is read from ${env}_PASSWORD). Never on the command line.",
    )


def login_from(
    args: argparse.Namespace, flag: str, env: str, what: str
) -> tuple[str | None, str | None]:
    """(username, password) from the options `add_login_options` added."""
    name = flag.replace("-", "_")
    password = password_from(getattr(args, f"{name}_password_file"), f"{env}_PASSWORD", what)
    return getattr(args, f"{name}_user"), password
