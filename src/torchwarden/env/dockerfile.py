"""``env dockerfile``: a Dockerfile (and its ``docker run`` line) that rebuilds a fingerprint.

Pinned to the fingerprint's torch and CUDA through the official ``pytorch/pytorch`` tag
scheme (``<torch>-cuda<X.Y>-cudnn<N>-runtime``), optionally by digest; the Python version is
checked at build time, because an official image brings its own Python. A CPU build has no
official tag and starts from ``python:<X.Y>-slim`` with the CPU wheel instead.

torchwarden itself is installed from a wheel built from its source and copied into the
image (``pip wheel --no-deps -w dist .``), never by name from a package index.

Every value that reaches the file comes from a fingerprint, which may be hostile, or from
an option: each must match a strict pattern (a version is digits and dots), and is
shell-quoted where a shell reads it, so no value can add an instruction or a command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from torchwarden._version import __version__
from torchwarden.env.verdict import version_tuple
from torchwarden.errors import EnvArgumentError, EnvError

__all__ = ["DockerSpec", "render", "run_line"]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
HOME = "/home/warden"
WHEEL = f"dist/torchwarden-{__version__}-py3-none-any.whl"
_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
# field -> (pattern, example, what to do when it does not match)
_PATTERNS = {
    "python": (r"3\.[0-9]{1,2}", "3.12", "the fingerprint's Python version"),
    "torch": (r"[0-9]{1,2}\.[0-9]{1,3}(\.[0-9]{1,3})?", "2.11.0", "a released torch version"),
    "cuda": (r"[0-9]{1,2}\.[0-9]{1,2}", "13.0", "the CUDA version of a torch build"),
    "cudnn_major": (r"[0-9]{1,2}", "9", "a cuDNN major version"),
    "shm_size": (r"[0-9]{1,12}[bkmg]?", "16g", "pass --shm-size like 16g"),
    "image": (rf"{_COMPONENT}(/{_COMPONENT})*(:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?",
              "torchwarden-env", "pass --image a Docker image name"),
    "wheel": (r"([A-Za-z0-9_][A-Za-z0-9_.+-]*/)*torchwarden-[A-Za-z0-9_.+-]+\.whl",
              WHEEL, "pass --wheel the path of a wheel inside the build context"),
}  # fmt: skip


@dataclass(frozen=True)
class DockerSpec:
    python: str  # "3.12"
    torch: str  # "2.11.0" (no local "+cu130" part)
    cuda: str | None  # "13.0"; None for a CPU build
    cudnn_major: str | None = None
    digest: str | None = None
    jupyter: bool = False
    ssh: bool = False
    compile: bool = True  # install a compiler: torch.compile builds kernels at run time
    shm_size: str | None = None  # None: --ipc=host
    image: str = "torchwarden-env"
    wheel: str = WHEEL  # torchwarden's wheel, relative to the build context

    def __post_init__(self) -> None:
        if self.digest is not None and not _DIGEST.match(self.digest):
            raise EnvArgumentError(
                f"--digest must look like sha256:<64 hex digits>, got {self.digest!r}"
            )
        if len(version_tuple(self.python)) < 2 or len(version_tuple(self.torch)) < 2:
            raise EnvError(
                f"the fingerprint lacks a Python or torch version (python={self.python!r}, "
                f"torch={self.torch!r}); record one with `torchwarden doctor --json PATH`."
            )
        for name, (pattern, example, fix) in _PATTERNS.items():
            value = getattr(self, name)
            if value is not None and not re.fullmatch(pattern, value):
                raise EnvError(
                    f"{name}={value[:80]!r} is not like {example!r}; nothing else may go into "
                    f"a Dockerfile. Use {fix}."
                )
        if ".." in self.wheel.split("/"):
            raise EnvError(f"wheel={self.wheel!r}: give a path inside the build context.")

    @classmethod
    def from_fingerprint(cls, fp: dict[str, Any], **options: Any) -> DockerSpec:
        torch_facts = fp.get("torch", {})
        python = ".".join(map(str, version_tuple(fp.get("python", {}).get("version"))[:2]))
        cudnn = torch_facts.get("cudnn")
        return cls(
            python=python,
            torch=(torch_facts.get("version") or "").split("+")[0],
            cuda=torch_facts.get("cuda"),
            cudnn_major=cudnn.split(".")[0] if cudnn else "9",
            **options,
        )

    @property
    def base(self) -> str:
        if self.cuda:
            name = f"pytorch/pytorch:{self.torch}-cuda{self.cuda}-cudnn{self.cudnn_major}-runtime"
        else:
            name = f"python:{self.python}-slim"
        return f"{name}@{self.digest}" if self.digest else name


def run_line(spec: DockerSpec) -> str:
    parts = ["docker run --rm -it"]
    parts += ["--gpus all"] if spec.cuda else []
    parts += [f"--shm-size={spec.shm_size}" if spec.shm_size else "--ipc=host"]
    parts += ["--ulimit memlock=-1 --ulimit stack=67108864", '-v "$PWD":/workspace']
    parts += ["-p 8888:8888 -e JUPYTER_TOKEN"] if spec.jupyter else []
    parts += (
        ['-p 2222:2222 -e SSH_AUTHORIZED_KEYS="$(cat ~/.ssh/id_ed25519.pub)"'] if spec.ssh else []
    )
    return " ".join([*parts, spec.image])


def render(spec: DockerSpec, *, source: str = "this machine") -> str:
    lines = _header(spec, source) + _system(spec) + _python(spec) + _user(spec)
    lines += _ssh(spec) + _entrypoint(spec) + _tail(spec)
    return "\n".join(lines) + "\n"


def _header(spec: DockerSpec, source: str) -> list[str]:
    return [
        f"# Generated by torchwarden {__version__} (torchwarden env dockerfile) from {source}.",
        f"# Pins Python {spec.python}, torch {spec.torch}, CUDA {spec.cuda or 'none (CPU build)'}.",
        "# Build, in the directory of this file, with torchwarden's source at SRC:",
        f"#   pip wheel --no-deps -w dist SRC && docker build -t {spec.image} .",
        f"# Run:   {run_line(spec)}",
        f"FROM {spec.base}",
        "ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive",
    ]


def _system(spec: DockerSpec) -> list[str]:
    packages = (["build-essential"] if spec.compile else []) + (
        ["openssh-server"] if spec.ssh else []
    )
    if not packages:
        return []
    return [
        "RUN apt-get update \\",
        f" && apt-get install -y --no-install-recommends {' '.join(packages)} \\",
        " && rm -rf /var/lib/apt/lists/*",
    ]


def _python(spec: DockerSpec) -> list[str]:
    lines = []
    if not spec.cuda:
        index = "https://download.pytorch.org/whl/cpu"
        lines.append(f"RUN pip install {shlex.quote(f'torch=={spec.torch}')} --index-url {index}")
    # from a wheel of the source this Dockerfile was made with, not by name from an index
    target = f"/tmp/{spec.wheel.rsplit('/', 1)[-1]}"
    extras = " 'jupyterlab>=4'" if spec.jupyter else ""
    lines += [
        f"COPY {spec.wheel} {target}",
        f"RUN pip install {shlex.quote(target)}{extras} && rm {target}",
    ]
    major, minor = version_tuple(spec.python)[:2]
    check = (
        "import sys, sysconfig, os, torch; "
        f"assert sys.version_info[:2] == ({major}, {minor}), "
        f"'image has Python %d.%d, fingerprint has {spec.python}: pick a base with that Python' % sys.version_info[:2]; "
        f"assert torch.__version__.split('+')[0] == '{spec.torch}', 'torch ' + torch.__version__; "
        f"assert torch.version.cuda == {spec.cuda!r}, 'CUDA ' + str(torch.version.cuda)"
    )
    if spec.compile:
        check += "; assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')), 'no Python.h'"
    return [*lines, f"RUN python -c {shlex.quote(check)}"]


def _user(spec: DockerSpec) -> list[str]:
    # '*' (not the default '!') leaves the account without a password but not locked: sshd
    # refuses key logins to locked accounts
    return [
        f"RUN useradd --create-home --home-dir {HOME} --uid 1000 --shell /bin/bash warden \\",
        " && usermod -p '*' warden \\",
        " && mkdir -p /workspace && chown warden:warden /workspace",
    ]


_SSHD_CONFIG = (
    "Port 2222", f"HostKey {HOME}/.ssh/ssh_host_ed25519_key", f"PidFile {HOME}/.ssh/sshd.pid",
    "AuthorizedKeysFile .ssh/authorized_keys", "PubkeyAuthentication yes",
    "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitEmptyPasswords no",
    "PermitRootLogin no", "AllowUsers warden", "UsePAM no",
)  # fmt: skip


def _ssh(spec: DockerSpec) -> list[str]:
    if not spec.ssh:
        return []
    # sshd runs as the non-root user on port 2222; it can only log that user in, which is the point
    quoted = " ".join(f"'{line}'" for line in _SSHD_CONFIG)
    return [f"RUN printf '%s\\n' {quoted} > /etc/ssh/warden_sshd_config"]


def _entrypoint(spec: DockerSpec) -> list[str]:
    script = ["#!/bin/sh", "set -eu"]
    if spec.jupyter:  # never serve Jupyter without a token: an empty one disables authentication
        script.append(
            ': "${JUPYTER_TOKEN:?set JUPYTER_TOKEN to a long random string (openssl rand -hex 24)}"'
        )
    if spec.ssh:
        script += [
            ': "${SSH_AUTHORIZED_KEYS:?set SSH_AUTHORIZED_KEYS to your public key; passwords are disabled}"',
            'mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh"',
            'printf "%s\\n" "$SSH_AUTHORIZED_KEYS" > "$HOME/.ssh/authorized_keys"',
            'chmod 600 "$HOME/.ssh/authorized_keys"',
            '[ -f "$HOME/.ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -f "$HOME/.ssh/ssh_host_ed25519_key"',
            "/usr/sbin/sshd -f /etc/ssh/warden_sshd_config",
        ]
    script.append('exec "$@"')
    quoted = " ".join(f"'{line}'" for line in script)
    target = "/usr/local/bin/torchwarden-entrypoint"
    return [f"RUN printf '%s\\n' {quoted} > {target} && chmod 755 {target}"]


def _tail(spec: DockerSpec) -> list[str]:
    if spec.jupyter:  # jupyter_server reads the token from JUPYTER_TOKEN itself
        cmd = '["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]'
    else:
        cmd = '["sleep", "infinity"]' if spec.ssh else '["bash"]'
    ports = (["8888"] if spec.jupyter else []) + (["2222"] if spec.ssh else [])
    return [
        "USER warden",
        "WORKDIR /workspace",
        *([f"EXPOSE {' '.join(ports)}"] if ports else []),
        # Docker reads exit 1 as unhealthy and reserves 2, which is doctor's "failures"
        "HEALTHCHECK --interval=5m --timeout=2m --start-period=1m --retries=3 \\",
        "  CMD torchwarden doctor --quick || exit 1",
        'ENTRYPOINT ["/usr/local/bin/torchwarden-entrypoint"]',
        f"CMD {cmd}",
    ]
