"""Upload throughput: fjshare's SFTP client against OpenSSH's own ``sftp``, same files, same sshd.

    sudo /work/venv/bin/python bench/bench_transfer.py [--size-mb 1024] [--files 16] [--rounds 2]

A real OpenSSH sshd (``internal-sftp`` in a chroot, as an operator runs it) is started on
loopback by ``tests/sshd_fixture.py`` (needs root). The data set (``--files`` random files
totalling ``--size-mb`` MiB) is generated once under ``bench/out/`` and reused. Each round moves
the whole set with:

1. OpenSSH ``sftp -b`` (its default cipher, host key pinned through a known_hosts file), and
   again with ``-c aes128-gcm@openssh.com``, the cipher fjshare's client prefers;
2. fjshare ``SftpTransport`` + ``upload_dir`` (``.partial/`` then rename, as the daemon does);
3. fjshare ``SftpTransport`` to the embedded paramiko server (for information).

Times include connecting. Prints MB/s (10^6 bytes/s) per line, best of the rounds, and the ratio
fjshare/OpenSSH (goal ≥ 0.6).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from sshd_fixture import OpenSshd, sshd_unavailable_reason, start_sshd  # noqa: E402

from fjshare.federation.transport import upload_dir  # noqa: E402
from fjshare.federation.transport.sftp_client import SftpTransport  # noqa: E402
from fjshare.federation.transport.sftp_server import SftpServer, StaticAccounts  # noqa: E402
from fjshare.trust.keys import generate_ssh_keys, load_ssh_public_key, ssh_fingerprint  # noqa: E402

MiB = 1024 * 1024


def make_dataset(out: Path, size_mb: int, files: int) -> Path:
    """``files`` random files of ``size_mb / files`` MiB each under ``out``, made once."""
    each = size_mb * MiB // files
    d = out / f"data-{files}x{each // MiB}MiB"
    wanted = [d / f"part-{i:04d}.bin" for i in range(files)]
    if all(p.exists() and p.stat().st_size == each for p in wanted):
        return d
    d.mkdir(parents=True, exist_ok=True)
    print(f"generating {files} × {each // MiB} MiB in {d} ...", flush=True)
    for p in wanted:
        with open(p, "wb") as f:
            left = each
            while left:
                n = min(left, 16 * MiB)
                f.write(os.urandom(n))
                left -= n
    return d


def run_openssh(sshd: OpenSshd, data: Path, work: Path, tag: str, cipher: str | None = None) -> float:
    batch = work / "batch.txt"
    lines = [f"mkdir {sshd.base}/{tag}"] + [f"put {p} {sshd.base}/{tag}/{p.name}" for p in sorted(data.iterdir())]
    batch.write_text("\n".join(lines) + "\n")
    cmd = [
        "sftp", "-q", "-b", str(batch), "-i", str(sshd.keys.client), "-P", str(sshd.port),
        "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={sshd.known_hosts_file()}",
        "-o", "BatchMode=yes", *(["-c", cipher] if cipher else []), f"{sshd.username}@127.0.0.1",
    ]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"sftp failed ({r.returncode}): {r.stderr}\n{sshd.log()[-2000:]}")
    return dt


def run_ours(port: int, user: str, key: Path, fingerprint: str, base: str, data: Path, tag: str) -> float:
    t0 = time.perf_counter()
    with SftpTransport.connect("127.0.0.1", port, user, key, fingerprint, timeout=30, base=base) as t:
        result = upload_dir(t, data, "", tag)
    dt = time.perf_counter() - t0
    assert result.files == len(list(data.iterdir())) and not result.already_present
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="total MiB to move per line (default 1024)")
    ap.add_argument("--files", type=int, default=16, help="number of files (default 16)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; the best time per line counts (default 2)")
    ap.add_argument("--no-embedded", action="store_true", help="skip the embedded-server line")
    args = ap.parse_args(argv)

    reason = sshd_unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    out = HERE / "out"
    data = make_dataset(out, args.size_mb, args.files)
    total = sum(p.stat().st_size for p in data.iterdir())
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=out))
    sshd = start_sshd()
    keys = generate_ssh_keys(work / "keys")
    jail = work / "jail"
    jail.mkdir()
    embedded = SftpServer("127.0.0.1", 0, keys.host, StaticAccounts({"350200": ([keys.client_pub.read_text()], jail)}))
    embedded.start()
    embedded_fp = ssh_fingerprint(load_ssh_public_key(keys.host_pub))
    times: dict[str, list[float]] = {
        "openssh sftp → sshd": [], "openssh sftp -c gcm": [], "fjshare → sshd": [], "fjshare → embedded": []
    }
    try:
        for rnd in range(args.rounds):
            sshd.clear_box()
            times["openssh sftp → sshd"].append(run_openssh(sshd, data, work, f"ossh{rnd}"))
            sshd.clear_box()
            times["openssh sftp -c gcm"].append(
                run_openssh(sshd, data, work, f"osshgcm{rnd}", cipher="aes128-gcm@openssh.com")
            )
            sshd.clear_box()
            times["fjshare → sshd"].append(
                run_ours(sshd.port, sshd.username, sshd.keys.client, sshd.host_fingerprint, sshd.base, data, f"ours{rnd}")
            )
            sshd.clear_box()
            if not args.no_embedded:
                times["fjshare → embedded"].append(
                    run_ours(embedded.port, "350200", keys.client, embedded_fp, "/", data, f"emb{rnd}")
                )
                shutil.rmtree(jail / f"emb{rnd}")
            print(f"round {rnd + 1}: " + ", ".join(f"{k} {total / v[-1] / 1e6:.0f} MB/s" for k, v in times.items() if v),
                  flush=True)
    finally:
        embedded.stop()
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.files} files, {total / MiB:.0f} MiB per line, best of {args.rounds} (loopback, {os.cpu_count()} cores)")
    best = {k: total / min(v) / 1e6 for k, v in times.items() if v}
    for k, mbs in best.items():
        print(f"  {k:<22} {mbs:8.1f} MB/s   ({min(times[k]):.2f} s)")
    ratio = best["fjshare → sshd"] / best["openssh sftp → sshd"]
    print(f"  ratio fjshare/openssh  {ratio:8.2f}   (goal ≥ 0.6: {'met' if ratio >= 0.6 else 'NOT met'})")
    same = best["fjshare → sshd"] / best["openssh sftp -c gcm"]
    print(f"  ratio, same cipher     {same:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
