"""Make a container release dir on a lab host from the host's own python3 (throwaway fixture)."""
import json, os, shutil, subprocess, sys, tarfile
root, svc, rel, tarpath, digest = sys.argv[1:6]
d = os.path.join(root, svc, "releases", rel)
if os.path.exists(os.path.join(d, "image.json")):
    sys.exit(0)
rootfs = os.path.join(d, "rootfs")
os.makedirs(rootfs, exist_ok=True)
files = {"/usr/bin/python3.11", "/usr/lib/python3.11", "/lib64/ld-linux-x86-64.so.2"}
for line in subprocess.run(["ldd", "/usr/bin/python3.11"], capture_output=True, text=True).stdout.splitlines():
    parts = line.split("=>")
    if len(parts) == 2 and parts[1].split():
        files.add(parts[1].split()[0])
for f in sorted(files):
    real = os.path.realpath(f)
    dest = rootfs + real
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.isdir(real):
        shutil.copytree(real, dest, symlinks=True, ignore=shutil.ignore_patterns("test", "__pycache__", "idlelib", "tkinter", "ensurepip"))
    else:
        shutil.copy2(real, dest)
    if real != f:
        ldest = rootfs + f
        os.makedirs(os.path.dirname(ldest), exist_ok=True)
        if not os.path.lexists(ldest):
            shutil.copy2(real, ldest)
os.symlink("python3.11", rootfs + "/usr/bin/python3")
for sub in ("proc", "dev", "sys", "tmp", "app", "etc"):
    os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
with tarfile.open(tarpath) as t:
    t.extractall(os.path.join(rootfs, "app"))
image = {"digest": digest, "config": {"Entrypoint": ["/usr/bin/python3", "server.py", "--port", "{port}"],
         "Cmd": None, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
         "WorkingDir": "/app", "Labels": {}, "User": ""}}
with open(os.path.join(d, "image.json"), "w") as h:
    json.dump(image, h)
