# JupyterHub configuration for a classroom on one machine: every student gets their own Jupyter
# server, running as their own OS account, with the ipyagent kernel as the default and one
# shared model server behind every agent.
#
#   jupyterhub -f deploy/jupyterhub_config.py          (as root: it starts servers as the students)
#
# Everything a course changes comes from the environment (defaults in brackets):
#   CLASSROOM_MODEL           the students' model, e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://10.0.0.5:8000/v1
#                             [openai:smollm2@http://127.0.0.1:8080/v1]
#   CLASSROOM_MODEL_CALLS     model calls one student's agents may have in flight at once [2]
#   CLASSROOM_URL             where students connect [http://127.0.0.1:8000]; put TLS in front
#   CLASSROOM_HUB_PORT        the hub's internal API port, on 127.0.0.1 [8081]
#   CLASSROOM_PROXY_API_PORT  the proxy's REST API port, on 127.0.0.1 [8001]
#   CLASSROOM_STATE_DIR       the hub's database, cookie secret and logs [/srv/jupyterhub]
#   CLASSROOM_PROXY           configurable-http-proxy [on PATH, else <env>/node/node_modules/.bin]
#   CLASSROOM_PYTHON          the Python of the students' servers and kernels, with ipyagent and
#                             its kernelspec installed; every account must be able to run it [the hub's]
#   CLASSROOM_IDLE_MINUTES    stop a student's server after this long without activity [60]
#   CLASSROOM_KERNEL_IDLE_MINUTES  shut down a notebook's kernel idle this long [20]
#   CLASSROOM_GROUP           with the system's passwords (PAM): the Unix group allowed in [students]
#   CLASSROOM_USERS           a comma-separated list of allowed users instead of the group
#   CLASSROOM_SHARED_PASSWORD one password for every allowed user (demos and tests only)
#   CLASSROOM_ADMIN_TOKEN     an API token for scripts (tests, load benchmark): admin of users
#                             and servers, and access to the servers
#
# The user servers take random ports in the kernel's ephemeral range (32768-60999 on Linux), so
# the hub's own ports stay outside it.

import os
import shutil
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (JupyterHub provides it)

env = os.environ.get
prefix = Path(sys.prefix)
state = Path(env("CLASSROOM_STATE_DIR", "/srv/jupyterhub"))
state.mkdir(parents=True, exist_ok=True, mode=0o700)

# --- where the hub listens ------------------------------------------------------------------------
c.JupyterHub.bind_url = env("CLASSROOM_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("CLASSROOM_HUB_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")

# The proxy comes from npm; a hub started from a virtualenv does not find it on PATH by itself
# ("Failed to find proxy").
proxy = env("CLASSROOM_PROXY") or shutil.which("configurable-http-proxy")
if not proxy:
    proxy = str(prefix / "node" / "node_modules" / ".bin" / "configurable-http-proxy")
c.ConfigurableHTTPProxy.command = [proxy]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('CLASSROOM_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
# Stopping the hub stops the proxy and every student's server with it.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# --- students: real accounts, so one student cannot read another's files or ledgers ---------------
c.JupyterHub.spawner_class = "localprocess"
# The hub runs the single-user server by absolute path, as the student's account.
c.Spawner.cmd = [env("CLASSROOM_PYTHON", sys.executable), "-m", "jupyterhub.singleuser"]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
kernel_idle = int(float(env("CLASSROOM_KERNEL_IDLE_MINUTES", "20")) * 60)
c.Spawner.args = [
    # New notebooks start on the ipyagent kernel; the plain Python kernel stays available.
    "--MappingKernelManager.default_kernel_name=ipyagent",
    # A kernel left idle holds memory on a shared machine: shut it down (busy ones are kept).
    f"--MappingKernelManager.cull_idle_timeout={kernel_idle}",
    "--MappingKernelManager.cull_interval=60",
    "--MappingKernelManager.cull_connected=True",
    # No "get notified about Jupyter news?" question to every student, no update check: the
    # course decides what runs, and a classroom network may not reach jupyter.org.
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]


# Kernels talk to their student's server over Unix sockets in the student's private runtime
# folder instead of TCP ports on 127.0.0.1. Any account on the machine can connect to a TCP port,
# and a kernel's output channel (IOPub) is signed, not encrypted: another student could subscribe
# to it and read everything the kernel shows. And forty servers starting kernels at once pick
# free ports independently: two kernels can be given the same port, the second dies at start, and
# jupyter_client's restarts retry the port it cached, so that notebook never gets a kernel.
# A Unix socket's path is limited to 107 bytes; a student whose home is too deep for it keeps TCP.
def kernels_over_unix_sockets(spawner):
    import pwd

    home = pwd.getpwnam(spawner.user.name).pw_dir
    longest = f"{home}/.local/share/jupyter/runtime/kernel-{'0' * 36}-ipc-5"
    if len(longest.encode()) <= 107:
        spawner.args = [*spawner.args, "--KernelManager.transport=ipc"]
    else:
        too_long = "%s's kernels use TCP: %s is too long for a Unix socket"
        spawner.log.warning(too_long, spawner.user.name, longest)


c.Spawner.pre_spawn_hook = kernels_over_unix_sockets
c.Spawner.environment = {
    "IPYAGENT_MODEL": env("CLASSROOM_MODEL", "openai:smollm2@http://127.0.0.1:8080/v1"),
    "IPYAGENT_MODEL_CALLS": env("CLASSROOM_MODEL_CALLS", "2"),
    # Each request names its student, so the shared model server lets students take turns
    # instead of answering one student's flood of requests before everyone else's.
    "IPYAGENT_MODEL_USER": lambda spawner: spawner.user.name,
    # If a student switches to the in-kernel model, llama.cpp's OpenMP threads must sleep when
    # idle instead of spinning: with many kernels on few cores, spinning starves everyone.
    "OMP_WAIT_POLICY": "PASSIVE",
}
# The token a student's server (and so their kernels and agents) holds: it may post the
# student's activity and reach the student's own server, nothing else (this is JupyterHub's
# default "server" role, written out so that nobody widens it by accident).
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server"]
# A class logs in together: forty servers starting at once on two cores take minutes, and a
# server that misses the timeout is reported to its student as failed.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300

# --- who may log in ------------------------------------------------------------------------------
users = {u.strip() for u in env("CLASSROOM_USERS", "").split(",") if u.strip()}
shared_password = env("CLASSROOM_SHARED_PASSWORD")
if shared_password:
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = shared_password
else:
    c.JupyterHub.authenticator_class = "pam"  # the accounts' own passwords
if users:
    c.Authenticator.allowed_users = users
else:
    c.Authenticator.allowed_groups = {env("CLASSROOM_GROUP", "students")}

# --- services: the idle culler, and an API token for scripts --------------------------------------
idle = int(float(env("CLASSROOM_IDLE_MINUTES", "60")) * 60)
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={idle}"],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
admin_token = env("CLASSROOM_ADMIN_TOKEN")
if admin_token:
    c.JupyterHub.services.append({"name": "classroom-admin", "api_token": admin_token})
    c.JupyterHub.load_roles.append(
        {
            "name": "classroom-admin",
            # access:servers is what lets the token through the proxy into a student's server.
            "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"],
            "services": ["classroom-admin"],
        }
    )
