#!/usr/bin/env python3
"""iaup benchmark harness (issue #6). Run it through `bench/run`, which builds the binaries,
installs the reference client and calls this script with the venv's Python.

Everything runs against `ias3-emulator` on 127.0.0.1; nothing contacts archive.org. Each timed
run gets a fresh emulator (except the rerun scenario, which needs the earlier upload), and is
checked afterwards through the emulator's metadata API: every file present with the MD5 of the
generated data, and the item's title set.

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime
import hashlib
import html
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
# Where cargo put the release binaries: $CARGO_TARGET_DIR (relative to the repository, as cargo
# reads it from bench/run there), else target/.
TARGET = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")
IAUP = TARGET / "release" / "iaup"
EMU = TARGET / "release" / "ias3-emulator"
IA = BENCH / ".venv" / "bin" / "ia"
TIME = "/usr/bin/time"  # GNU time, for the peak RSS
KEY, SECRET = "BENCHKEY", "BENCHSECRET"

KiB, MiB, GiB = 1024, 1024**2, 1024**3

# What the Internet Archive costs over a WAN, as emulator flags.
WAN = ["--connect-delay-ms", "100", "--latency-ms", "50"]
STORM = WAN + ["--slowdown-rate", "0.2", "--retry-after", "1", "--seed", "6"]
CAP = ["--bandwidth", "20MiB"]

# Tools, in the order they appear in tables.
T_IAUP = "iaup"
T_IAUP_CK = "iaup --checksum"
T_PAR = "curl --parallel"
T_LOOP = "curl -T loop"
T_LOOP_NX = "curl -T, no Expect"  # scenario 7: `-H 'Expect:'`, the body at once as `ia` sends it
T_IAUP_MP = "iaup multipart"  # scenario 7: iaup with --multipart-threshold below the file size
T_IA = "ia"
T_CURL1 = "curl -o"  # download scenario D2: one plain curl for one file

# Download scenarios (`--only d1,d2,d3`, or d for all three).
DOWNLOAD_KEYS = ("D1", "D2", "D3")
UPLOAD_KEYS = ("1", "2a", "2b", "3", "4", "5", "6", "7a", "7b")
# Parts under this need the emulator's --min-part-size (S3's minimum, which the emulator keeps).
S3_MIN_PART = 5 * 1024**2
# Every seeded file has this mtime, so `Last-Modified` and the metadata's mtime never change.
SEED_MTIME = 1_700_000_000


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class File:
    path: Path
    key: str
    size: int
    md5: str


@dataclass
class Item:
    identifier: str
    title: str
    files: list[File]


@dataclass
class Workload:
    name: str
    items: list[Item]

    @property
    def files(self) -> list[File]:
        return [f for it in self.items for f in it.files]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def small_workload(n_files: int, per_item: int, size: int) -> Workload:
    """n_files deterministic files of `size` bytes, `per_item` to an item. The quick set is a
    prefix of the full one, so both share one cache."""
    d = DATA / f"small-{size}"
    d.mkdir(parents=True, exist_ok=True)
    mpath = d / "manifest.json"
    man = _manifest(mpath)
    changed = False
    files = []
    for i in range(n_files):
        name = f"f{i:05d}.bin"
        p = d / name
        if name not in man or not p.is_file() or p.stat().st_size != size:
            body = random.Random(f"iaup-bench-small-{size}-{i}").randbytes(size)
            p.write_bytes(body)
            man[name] = hashlib.md5(body).hexdigest()
            changed = True
        files.append(File(p, name, size, man[name]))
    if changed:
        mpath.write_text(json.dumps(man, indent=0, sort_keys=True))
    items = []
    for n, start in enumerate(range(0, n_files, per_item)):
        items.append(
            Item(f"iaupbench-small-{n:04d}", f"Bench small item {n}", files[start : start + per_item])
        )
    return Workload(f"{n_files} x {fmt_size(size)} in {len(items)} items", items)


def warm_page_cache(wl: Workload) -> None:
    """Reads every file once, so the first tool timed does not pay for the disk alone (iaup
    runs first in each round: before this, its first big-file run read cold data)."""
    for f in wl.files:
        with open(f.path, "rb") as fh:
            while fh.read(8 * MiB):
                pass


def big_workload(n_files: int, size: int) -> Workload:
    """n_files of `size` bytes from a seeded PRNG, written in 8 MiB blocks (no sparse files)."""
    d = DATA / f"big-{size}"
    d.mkdir(parents=True, exist_ok=True)
    mpath = d / "manifest.json"
    man = _manifest(mpath)
    files = []
    for i in range(n_files):
        name = f"big{i}.bin"
        p = d / name
        if name not in man or not p.is_file() or p.stat().st_size != size:
            log(f"generating {p.relative_to(ROOT)} ({fmt_size(size)})")
            rng = random.Random(f"iaup-bench-big-{i}")
            h = hashlib.md5()
            tmp = p.with_suffix(".tmp")
            with open(tmp, "wb") as out:
                left = size
                while left:
                    block = rng.randbytes(min(left, 8 * MiB))
                    out.write(block)
                    h.update(block)
                    left -= len(block)
            tmp.rename(p)
            man[name] = h.hexdigest()
            mpath.write_text(json.dumps(man, indent=0, sort_keys=True))
        files.append(File(p, name, size, man[name]))
    return Workload(f"{n_files} x {fmt_size(size)} in 1 item", [Item("iaupbench-big", "Bench big item", files)])


@dataclass
class DlWorkload(Workload):
    """Items seeded into the emulator at its start (`--seed-items`, made-up bytes), for the
    download scenarios. A file's `path` is where it lands under a destination directory
    (ID/NAME); its md5 is filled in from the emulator's metadata API once it runs."""

    collection: str = ""
    seed: list[dict] = field(default_factory=list)

    def query(self, sub: Workload | None = None) -> str:
        """The search that finds the items (of `sub`, a prefix of them, when given)."""
        q = f"collection:{self.collection}"
        if sub is not None and len(sub.items) < len(self.items):
            q += f" AND identifier:[{sub.items[0].identifier} TO {sub.items[-1].identifier}]"
        return q


def dl_workload(tag: str, n_files: int, per_item: int, size: int, name: str = "f{:05d}.bin") -> DlWorkload:
    """n_files of `size` made-up bytes, `per_item` to an item, in collection iaupbench-{tag}."""
    coll = f"iaupbench-{tag}"
    items, seed = [], []
    for n, start in enumerate(range(0, n_files, per_item)):
        ident = f"{coll}-{n:04d}"
        files = [File(Path(ident) / name.format(i), name.format(i), size, "")
                 for i in range(start, min(start + per_item, n_files))]
        items.append(Item(ident, f"Bench download item {n}", files))
        seed.append({"identifier": ident,
                     "metadata": {"collection": coll, "title": f"Bench download item {n}",
                                  "mediatype": "data"},
                     "files": [{"name": f.key, "size": size, "mtime": SEED_MTIME} for f in files]})
    wl = DlWorkload(f"{n_files} x {fmt_size(size)} in {len(items)} item{'s' if len(items) > 1 else ''}",
                    items, coll, seed)
    return wl


# ---------------------------------------------------------------------------------------------
# Emulator


class Emulator:
    def __init__(self, flags: list[str], workdir: Path, seed: list[dict] | None = None):
        self.workdir = workdir
        self.data_dir = workdir / "emu"
        self.log_path = workdir / "emulator.jsonl"
        shutil.rmtree(self.data_dir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        self.flags = flags
        if seed:
            seed_file = workdir / "seed-items.jsonl"
            seed_file.write_text("".join(json.dumps(line) + "\n" for line in seed))
            flags = flags + ["--seed-items", str(seed_file)]
        argv = [str(EMU), "--addr", "127.0.0.1:0", "--data-dir", str(self.data_dir),
                "--access-key", KEY, "--secret-key", SECRET, "--log", str(self.log_path)] + flags
        self.err = open(workdir / "emulator.stderr", "ab")
        # Its own session: no signal meant for the harness's process group reaches it.
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r} (see {workdir}/emulator.stderr)")
        self.url = m.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        # Drain stdout so the emulator never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def died(self) -> str:
        """Why the emulator is gone, or "" while it runs."""
        rc = self.proc.poll()
        if rc is None:
            return ""
        return f"the emulator exited during the run (status {rc}; see {self.workdir}/emulator.stderr)"

    def log_offset(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def requests_since(self, offset: int) -> list[dict]:
        out = []
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def check_integrity(emu: Emulator, wl: Workload) -> tuple[int, list[str]]:
    """(files intact, problems): every expected file listed as an original with the right md5
    and size, and the item's title set."""

    def one(item: Item) -> tuple[int, list[str]]:
        problems = []
        for attempt in range(3):
            try:
                with _no_proxy.open(f"{emu.url}/metadata/{item.identifier}", timeout=60) as r:
                    doc = json.loads(r.read())
                break
            except OSError as e:
                if attempt == 2:
                    return 0, [f"{item.identifier}: metadata GET failed: {e}"]
                time.sleep(0.5)
        if not doc:
            return 0, [f"{item.identifier}: no such item"]
        have = {f["name"]: f for f in doc.get("files", []) if f.get("source") == "original"}
        ok = 0
        for f in item.files:
            got = have.get(f.key)
            if got is None:
                problems.append(f"{item.identifier}/{f.key}: missing")
            elif got.get("md5") != f.md5 or int(got.get("size", -1)) != f.size:
                problems.append(f"{item.identifier}/{f.key}: md5 {got.get('md5')} != {f.md5}")
            else:
                ok += 1
        title = doc.get("metadata", {}).get("title")
        if title != item.title:
            problems.append(f"{item.identifier}: title {title!r} != {item.title!r}")
        return ok, problems

    total, problems = 0, []
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for ok, p in pool.map(one, wl.items):
            total += ok
            problems += p
    return total, problems


def fill_md5(emu: Emulator, wl: Workload) -> list[str]:
    """Sets each file's md5 to the one the emulator lists for its copy (GET /metadata/ID);
    problems if an item or file is missing or has another size."""

    def one(item: Item) -> list[str]:
        try:
            with _no_proxy.open(f"{emu.url}/metadata/{item.identifier}", timeout=60) as r:
                doc = json.loads(r.read())
        except OSError as e:
            return [f"{item.identifier}: metadata GET failed: {e}"]
        have = {f["name"]: f for f in doc.get("files", [])}
        problems = []
        for f in item.files:
            got = have.get(f.key)
            if got is None or int(got.get("size", -1)) != f.size or not got.get("md5"):
                problems.append(f"{item.identifier}/{f.key}: not seeded as expected ({got})")
            else:
                f.md5 = got["md5"]
        return problems

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return [p for ps in pool.map(one, wl.items) for p in ps]


def check_download(wl: Workload, dest: Path) -> tuple[int, list[str]]:
    """(files intact, problems): every file of `wl` present under `dest` with the size and the
    MD5 the emulator lists for its copy."""

    def one(f: File) -> tuple[int, str]:
        p = dest / f.path
        try:
            size = p.stat().st_size
        except OSError:
            return 0, f"{f.path}: missing"
        if size != f.size:
            return 0, f"{f.path}: {size} bytes, not {f.size}"
        h = hashlib.md5()
        with open(p, "rb") as fh:
            while block := fh.read(8 * MiB):
                h.update(block)
        if h.hexdigest() != f.md5:
            return 0, f"{f.path}: md5 {h.hexdigest()} != {f.md5}"
        return 1, ""

    total, problems = 0, []
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for ok, p in pool.map(one, wl.files):
            total += ok
            if p:
                problems.append(p)
    return total, problems


_DATA_PATH = re.compile(r"^/(download/|\d+/items/|view_archive\.php)")


def request_stats(reqs: list[dict]) -> dict:
    puts = [r for r in reqs if r.get("method") == "PUT"]
    gets = [r for r in reqs if r.get("method") in ("GET", "HEAD")]
    return {
        # download scenarios: metadata reads, 302s, file bodies (200/206), searches
        "meta": sum(1 for r in gets if (r.get("path") or "").startswith("/metadata/")),
        "redirect": sum(1 for r in gets if r.get("status") == 302),
        "data": sum(1 for r in gets if r.get("status") in (200, 206)
                    and _DATA_PATH.match(r.get("path") or "")),
        "search": sum(1 for r in gets + [r for r in reqs if r.get("method") == "POST"]
                      if (r.get("path") or "").startswith(("/services/search", "/advancedsearch"))),
        "requests": len(reqs),
        "put": len(puts),
        "put_ok": sum(1 for r in puts if r.get("status") == 200),
        "post": sum(1 for r in reqs if r.get("method") == "POST"),
        # multipart Complete (POST /ID/KEY?uploadId=U): the emulator assembles the file in it
        "complete_s": sum(r.get("duration_ms") or 0 for r in reqs if r.get("method") == "POST"
                          and "uploadId=" in (r.get("path") or "")) / 1000.0,
        "get": sum(1 for r in reqs if r.get("method") in ("GET", "HEAD")),
        "s503": sum(1 for r in reqs if r.get("status") == 503),
        "busy_s": sum(r.get("duration_ms") or 0 for r in reqs) / 1000.0,
        "body_bytes": sum(r.get("body_size") or 0 for r in puts),
    }


# ---------------------------------------------------------------------------------------------
# Tools


@dataclass
class Ctx:
    """What a tool needs to build its command for one run."""

    wl: Workload
    emu: Emulator
    rundir: Path
    jobs: int
    storm: bool = False
    rerun: bool = False
    journal: Path | None = None
    # downloads: where files go, and what selects them (["--search", Q, "--glob", G] or [ID, FILE])
    dest: Path | None = None
    target: list[str] = field(default_factory=list)


def metadata_headers(item: Item) -> list[str]:
    """The item metadata as `ia` encodes it (whitespace -> uri(percent-encoded))."""
    from urllib.parse import quote

    def enc(v: str) -> str:
        return f"uri({quote(v, safe='')})" if (re.search(r"\s", v) or not v.isascii()) else v

    return [f"x-archive-meta00-title: {enc(item.title)}", "x-archive-meta00-mediatype: data"]


def write_sheet(ctx: Ctx) -> Path:
    p = ctx.rundir / "sheet.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["identifier", "file", "title", "mediatype"])
        for it in ctx.wl.items:
            for fl in it.files:
                w.writerow([it.identifier, str(fl.path), it.title, "data"])
    return p


def base_env(ctx: Ctx) -> dict:
    home = ctx.rundir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_STATE_HOME=str(home / ".local/state"), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", LC_ALL="C.UTF-8")
    for k in ("IA_CONFIG_FILE", "IAUP_S3_URL", "IAUP_ARCHIVE_URL"):
        env.pop(k, None)
    return env


def cmd_iaup(ctx: Ctx, checksum: bool = False, extra: list[str] | None = None) -> tuple[list[str], dict]:
    env = base_env(ctx)
    env.update(IA_ACCESS_KEY_ID=KEY, IA_SECRET_ACCESS_KEY=SECRET,
               IAUP_S3_URL=ctx.emu.url, IAUP_ARCHIVE_URL=ctx.emu.url)
    argv = [str(IAUP), "upload", "--spreadsheet", str(write_sheet(ctx)),
            "--jobs", str(ctx.jobs), "--no-progress"]
    if checksum:
        argv += ["--checksum", "--no-journal"]
    else:
        argv += ["--journal", str(ctx.journal or (ctx.rundir / "journal.sqlite"))]
    return argv + list(extra or []), env


def multipart_args(part: int, jobs: int = 4) -> list[str]:
    """iaup's flags for a multipart upload in parts of `part` bytes, `jobs` at a time: the
    threshold is the part size, so every file of at least one part goes in parts."""
    size = f"{part // MiB}MiB" if part % MiB == 0 else str(part)
    return ["--multipart-threshold", size, "--part-size", size, "--part-jobs", str(jobs)]


def ia_env(ctx: Ctx) -> tuple[Path, dict]:
    """(its config file, its environment) for `ia`, sent through the emulator as a proxy."""
    env = base_env(ctx)
    proxy = f"http://127.0.0.1:{ctx.emu.port}"
    # Plain http (-i) through the emulator as a proxy; https would hit the emulator too and fail:
    # nothing can reach archive.org.
    env.update(HTTP_PROXY=proxy, http_proxy=proxy, HTTPS_PROXY=proxy, https_proxy=proxy,
               NO_PROXY="", no_proxy="")
    ini = ctx.rundir / "ia.ini"
    ini.write_text(f"[s3]\naccess = {KEY}\nsecret = {SECRET}\n")
    return ini, env


def cmd_ia(ctx: Ctx) -> tuple[list[str], dict]:
    ini, env = ia_env(ctx)
    argv = [str(IA), "-c", str(ini), "-i", "upload", "--spreadsheet", str(write_sheet(ctx))]
    if ctx.storm:
        argv += ["--retries", "20", "--sleep", "1"]
    if ctx.rerun:
        argv += ["--checksum"]
    return argv, env


def curl_args(ctx: Ctx, item: Item, f: File, expect: bool = True) -> list[tuple[str, str]]:
    """(option, value) pairs of one curl transfer. curl sends `Expect: 100-continue` on a PUT
    with a body and waits up to 1 s for the `100`; `expect=False` turns that off (`-H 'Expect:'`),
    so the body goes at once, as `ia` sends it."""
    opts = [("upload-file", str(f.path)), ("url", f"{ctx.emu.url}/{item.identifier}/{f.key}"),
            ("header", f"authorization: LOW {KEY}:{SECRET}"),
            ("header", "x-archive-auto-make-bucket: 1")]
    opts += [("header", h) for h in metadata_headers(item)]
    if not expect:
        opts += [("header", "Expect:")]
    opts += [("output", "/dev/null"), ("fail", ""), ("silent", ""), ("show-error", "")]
    if ctx.storm:
        opts += [("retry", "20")]
    return opts


def cmd_curl_loop(ctx: Ctx, expect: bool = True) -> tuple[list[str], dict]:
    """One `curl -T` per file, one at a time, as the seed's examples do."""
    script = ctx.rundir / "curl-loop.sh"
    lines = ["#!/bin/bash", "rc=0"]
    for it in ctx.wl.items:
        for f in it.files:
            parts = ["curl"]
            for k, v in curl_args(ctx, it, f, expect):
                parts += [f"--{k}"] + ([v] if v else [])
            lines.append(" ".join(shlex.quote(p) for p in parts) + " || rc=1")
    lines.append("exit $rc")
    script.write_text("\n".join(lines) + "\n")
    return ["bash", str(script)], base_env(ctx)


def cmd_curl_parallel(ctx: Ctx) -> tuple[list[str], dict]:
    """All transfers in one `curl --parallel`, as many at once as iaup's --jobs."""
    cfg = ctx.rundir / "curl-parallel.cfg"
    out = []
    transfers = [(it, f) for it in ctx.wl.items for f in it.files]
    for n, (it, f) in enumerate(transfers):
        for k, v in curl_args(ctx, it, f):
            out.append(f'{k} = "{v}"' if v else k)
        if n + 1 < len(transfers):
            out.append("next")
    cfg.write_text("\n".join(out) + "\n")
    argv = ["curl", "--silent", "--show-error", "--parallel", "--parallel-immediate",
            "--parallel-max", str(ctx.jobs), "--config", str(cfg)]
    return argv, base_env(ctx)


def cmd_iaup_dl(ctx: Ctx, checksum: bool = False) -> tuple[list[str], dict]:
    env = base_env(ctx)
    env.update(IAUP_S3_URL=ctx.emu.url, IAUP_ARCHIVE_URL=ctx.emu.url)
    argv = [str(IAUP), "download"] + ctx.target + ["--destdir", str(ctx.dest),
                                                   "--jobs", str(ctx.jobs), "--no-progress"]
    if checksum:
        argv += ["--checksum", "--no-journal"]
    else:
        argv += ["--journal", str(ctx.journal or (ctx.rundir / "journal.sqlite"))]
    return argv, env


def cmd_ia_dl(ctx: Ctx) -> tuple[list[str], dict]:
    """`ia download`, through the emulator as a proxy, as cmd_ia does for uploads."""
    ini, env = ia_env(ctx)
    return [str(IA), "-c", str(ini), "-i", "download"] + ctx.target + ["--destdir", str(ctx.dest)], env


def dl_url(ctx: Ctx, item: Item, f: File) -> str:
    return f"{ctx.emu.url}/download/{item.identifier}/{f.key}"


def cmd_curl_parallel_dl(ctx: Ctx) -> tuple[list[str], dict]:
    """Every file's /download/ URL in one `curl --parallel`, as many at once as iaup's --jobs,
    following the 302 to the data node (`--location`) as a browser would."""
    cfg = ctx.rundir / "curl-parallel.cfg"
    out = []
    transfers = [(it, f) for it in ctx.wl.items for f in it.files]
    for n, (it, f) in enumerate(transfers):
        out += [f'url = "{dl_url(ctx, it, f)}"', f'output = "{ctx.dest / f.path}"',
                "create-dirs", "location", "fail"]
        if n + 1 < len(transfers):
            out.append("next")
    cfg.write_text("\n".join(out) + "\n")
    argv = ["curl", "--silent", "--show-error", "--parallel", "--parallel-immediate",
            "--parallel-max", str(ctx.jobs), "--config", str(cfg)]
    return argv, base_env(ctx)


def cmd_curl_one_dl(ctx: Ctx) -> tuple[list[str], dict]:
    """One plain `curl -L -o` per file, one at a time (scenario D2 has one file)."""
    script = ctx.rundir / "curl-o.sh"
    lines = ["#!/bin/bash", "rc=0"]
    for it in ctx.wl.items:
        for f in it.files:
            parts = ["curl", "--silent", "--show-error", "--fail", "--location", "--create-dirs",
                     "-o", str(ctx.dest / f.path), dl_url(ctx, it, f)]
            lines.append(" ".join(shlex.quote(p) for p in parts) + " || rc=1")
    lines.append("exit $rc")
    script.write_text("\n".join(lines) + "\n")
    return ["bash", str(script)], base_env(ctx)


# ---------------------------------------------------------------------------------------------
# Running and measuring


@dataclass
class Run:
    wall: float
    rss_kib: int
    rc: int
    intact: int
    expected: int
    problems: list[str]
    stats: dict
    log: str
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.intact == self.expected and not self.problems


def timed(argv: list[str], env: dict, logfile: Path, timeout: float,
          watch=lambda: "") -> tuple[float, int, int]:
    """(wall seconds, peak RSS KiB of the process and its reaped children, exit code).

    The peak RSS comes from GNU time (`ru_maxrss` of its child): a process forked straight from
    this Python would inherit Python's own high-water mark at exec, so os.wait4 here would
    report at least this harness's size for every tool."""
    rssfile = logfile.with_suffix(".rss")
    with open(logfile, "wb") as out:
        out.write(("$ " + " ".join(shlex.quote(a) for a in argv) + "\n").encode())
        out.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen([TIME, "-f", "%M", "-o", str(rssfile), "--"] + argv, env=env,
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        done = threading.Event()

        def watchdog() -> None:
            # Kill the tool on timeout, or when the emulator died under it.
            deadline = time.monotonic() + timeout
            while not done.wait(0.5):
                if time.monotonic() > deadline or watch():
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    return

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            rc = p.wait()
        finally:
            done.set()
        wall = time.perf_counter() - t0
    try:
        rss = int(rssfile.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        rss = 0
    return wall, rss, rc


@dataclass
class Cell:
    tool: str
    runs: list[Run] = field(default_factory=list)
    skipped: str = ""  # why there is no number
    # Timed on a prefix of the workload and extrapolated linearly: times are multiplied by this.
    scale: float = 1.0
    subset: str = ""

    @property
    def walls(self) -> list[float]:
        return [r.wall * self.scale for r in self.runs]

    @property
    def median(self) -> float | None:
        return statistics.median(self.walls) if self.runs and self.ok else None

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)


@dataclass
class Scenario:
    key: str
    title: str
    wl: Workload
    flags: list[str]
    profile: str
    cells: dict[str, Cell] = field(default_factory=dict)
    rerun: bool = False
    download: bool = False
    storm: bool = False  # SlowDowns expected: curl gets --retry 20, ia --retries 20 --sleep 1
    iaup_args: list[str] = field(default_factory=list)  # added to the iaup row's command
    mp_args: list[str] = field(default_factory=list)  # the "iaup multipart" row's flags


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.jobs = args.jobs
        self.out = Path(args.out).resolve()
        self.workroot = DATA / ("runs-quick" if self.quick else "runs")
        self.scenarios: list[Scenario] = []
        self.failures: list[str] = []
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                  capture_output=True, text=True).stdout.strip() or "?"

    # One timed run of one tool.
    def run_tool(self, sc: Scenario, tool: str, emu: Emulator, rundir: Path,
                 wl: Workload | None = None, **kw) -> Run:
        rundir.mkdir(parents=True, exist_ok=True)
        wl = wl or sc.wl
        ctx = Ctx(wl, emu, rundir, self.jobs, storm=sc.storm, rerun=sc.rerun, **kw)
        argv, env = {
            T_IAUP: lambda: cmd_iaup(ctx, extra=sc.iaup_args),
            T_IAUP_MP: lambda: cmd_iaup(ctx, extra=sc.mp_args),
            T_IAUP_CK: lambda: cmd_iaup(ctx, checksum=True),
            T_IA: lambda: cmd_ia(ctx),
            T_LOOP: lambda: cmd_curl_loop(ctx),
            T_LOOP_NX: lambda: cmd_curl_loop(ctx, expect=False),
            T_PAR: lambda: cmd_curl_parallel(ctx),
        }[tool]()
        off = emu.log_offset()
        logfile = rundir / "output.log"
        wall, rss, rc = timed(argv, env, logfile, self.args.timeout, watch=emu.died)
        stats = request_stats(emu.requests_since(off))
        dead = emu.died()
        intact, problems = (0, [dead]) if dead else check_integrity(emu, wl)
        r = Run(wall, rss, rc, intact, len(wl.files), problems, stats, str(logfile))
        if tool == T_IA and sc.rerun and rc == 1 and stats["put"] == 0 and not problems \
                and intact == r.expected:
            # ia exits 1 when --checksum skipped files (a skipped file is an empty Response,
            # which its CLI counts as an error): that is success here.
            r.rc, r.note = 0, "`ia` exited 1: it counts files skipped by --checksum as errors"
        state = ("ok" + (f" ({r.note})" if r.note else "")) if r.ok else f"FAILED rc={rc} intact={intact}/{r.expected} {problems[:3]}"
        log(f"  {sc.key} {tool:18s} {wall:8.2f} s  rss {rss / 1024:7.1f} MiB  "
            f"PUT {stats['put']:5d} 503 {stats['s503']:4d}  "
            f"body {stats['body_bytes'] / max(wl.total_bytes, 1):.2f}x  {state}")
        if not r.ok:
            self.failures.append(f"scenario {sc.key}, {tool}: {state} (log {logfile})")
        return r

    # One timed run of one download tool.
    def run_dl_tool(self, sc: Scenario, tool: str, emu: Emulator, rundir: Path, wl: Workload,
                    dest: Path, journal: Path | None = None) -> Run:
        rundir.mkdir(parents=True, exist_ok=True)
        full = sc.wl
        assert isinstance(full, DlWorkload)
        if len(full.items) == 1:
            # One item (D2): name it and its files, as a single download is asked for.
            target = [wl.items[0].identifier] + [f.key for f in wl.items[0].files]
        else:
            target = ["--search", full.query(wl), "--glob", "*.bin"]
        ctx = Ctx(wl, emu, rundir, self.jobs, rerun=sc.rerun, journal=journal, dest=dest,
                  target=target)
        argv, env = {
            T_IAUP: lambda: cmd_iaup_dl(ctx),
            T_IAUP_CK: lambda: cmd_iaup_dl(ctx, checksum=True),
            T_IA: lambda: cmd_ia_dl(ctx),
            T_PAR: lambda: cmd_curl_parallel_dl(ctx),
            T_CURL1: lambda: cmd_curl_one_dl(ctx),
        }[tool]()
        off = emu.log_offset()
        logfile = rundir / "output.log"
        wall, rss, rc = timed(argv, env, logfile, self.args.timeout, watch=emu.died)
        stats = request_stats(emu.requests_since(off))
        dead = emu.died()
        intact, problems = (0, [dead]) if dead else check_download(wl, dest)
        r = Run(wall, rss, rc, intact, len(wl.files), problems, stats, str(logfile))
        state = ("ok" + (f" ({r.note})" if r.note else "")) if r.ok else \
            f"FAILED rc={rc} intact={intact}/{r.expected} {problems[:3]}"
        log(f"  {sc.key} {tool:16s} {wall:8.2f} s  rss {rss / 1024:7.1f} MiB  "
            f"GET meta {stats['meta']:5d} 302 {stats['redirect']:5d} file {stats['data']:5d}  {state}")
        if not r.ok:
            self.failures.append(f"scenario {sc.key}, {tool}: {state} (log {logfile})")
        return r

    def download_runs(self, sc: Scenario, tools: list[str]) -> None:
        """The download scenarios: one emulator, seeded at start, serves every run (downloads
        leave it unchanged). Each run writes into a new empty directory, deleted once checked;
        in a rerun scenario (D3) iaup first downloads everything once (not timed) and every
        timed run goes over that same directory."""
        tools = self.pick(tools)
        self.scenarios.append(sc)
        base = self.workroot / f"s{sc.key}"
        shutil.rmtree(base, ignore_errors=True)
        log(f"  {sc.key} seeding the emulator: {sc.wl.name}")
        emu = Emulator(sc.flags, base, seed=sc.wl.seed)
        try:
            problems = fill_md5(emu, sc.wl)
            if problems:
                self.failures.append(f"scenario {sc.key}: seeding failed: {problems[:3]}")
                for t in tools:
                    sc.cells[t] = Cell(t, skipped="seeding failed")
                return
            shared_dest, journal = base / "dest", base / "journal.sqlite"
            if sc.rerun:
                log(f"  {sc.key} setup: first download with iaup (not timed)")
                setup = self.run_dl_tool(sc, T_IAUP, emu, base / "setup", sc.wl, shared_dest,
                                         journal=journal)
                if not setup.ok:
                    for t in tools:
                        sc.cells[t] = Cell(t, skipped="setup download failed")
                    return
            for t in tools:
                sc.cells[t] = Cell(t)
            for rep in range(self.args.runs):
                for t in tools:
                    cell = sc.cells[t]
                    if cell.skipped or not self.want_more(cell) or emu.died():
                        continue
                    rundir = base / re.sub(r"\W+", "-", t) / str(rep)
                    wl = self.workload_for(sc, t, cell)
                    dest = shared_dest if sc.rerun else rundir / "dest"
                    if not sc.rerun:
                        shutil.rmtree(dest, ignore_errors=True)
                    dest.mkdir(parents=True, exist_ok=True)  # `ia --destdir` must exist
                    r = self.run_dl_tool(sc, t, emu, rundir, wl, dest,
                                         journal=journal if sc.rerun else None)
                    if not sc.rerun:
                        shutil.rmtree(dest, ignore_errors=True)
                    if sc.rerun and t in (T_IAUP, T_IAUP_CK) and r.stats["data"] > 0:
                        r.note = f"fetched {r.stats['data']} of {len(wl.files)} files again"
                    cell.runs.append(r)
        finally:
            emu.stop()

    def workload_for(self, sc: Scenario, tool: str, cell: Cell) -> Workload:
        """The sequential peers may run on a prefix of the items (--seq-subset), extrapolated."""
        n = self.args.seq_subset
        if tool not in (T_IA, T_LOOP, T_LOOP_NX) or not n or n >= len(sc.wl.files):
            return sc.wl
        items, count = [], 0
        for it in sc.wl.items:
            if count >= n:
                break
            items.append(it)
            count += len(it.files)
        sub = Workload(f"first {count} files", items)
        cell.scale = len(sc.wl.files) / count
        cell.subset = (f"timed on the first {count} of {len(sc.wl.files)} files "
                       f"({len(items)} items) and multiplied by {cell.scale:.2f}")
        return sub

    def want_more(self, cell: Cell) -> bool:
        """At least one run; more (up to --runs) while the cell's time stays under --budget."""
        if not cell.runs:
            return True
        if len(cell.runs) >= self.args.runs or not cell.ok:
            return False
        spent = sum(r.wall for r in cell.runs)
        return spent + max(r.wall for r in cell.runs) <= self.args.budget

    def pick(self, tools: list[str]) -> list[str]:
        if not self.args.tools:
            return tools
        names = {T_IAUP: "iaup", T_IAUP_CK: "iaup-checksum", T_IAUP_MP: "iaup-multipart",
                 T_PAR: "curl-parallel", T_LOOP: "curl-loop", T_LOOP_NX: "curl-loop-noexpect",
                 T_IA: "ia", T_CURL1: "curl-o"}
        chosen = set(self.args.tools.split(","))
        return [t for t in tools if names[t] in chosen or t == T_IAUP]

    def fresh_runs(self, sc: Scenario, tools: list[str]) -> None:
        """Each run against a new, empty emulator; tools interleaved so drift hits all alike."""
        tools = self.pick(tools)
        warm_page_cache(sc.wl)
        self.scenarios.append(sc)
        for t in tools:
            sc.cells[t] = Cell(t)
        for rep in range(self.args.runs):
            for t in tools:
                cell = sc.cells[t]
                if not self.want_more(cell):
                    continue
                rundir = self.workroot / f"s{sc.key}" / re.sub(r"\W+", "-", t) / str(rep)
                shutil.rmtree(rundir, ignore_errors=True)
                wl = self.workload_for(sc, t, cell)
                for attempt in range(2):
                    emu = Emulator(sc.flags, rundir)
                    try:
                        r = self.run_tool(sc, t, emu, rundir, wl=wl)
                        dead = emu.died()
                    finally:
                        emu.stop()
                    if not dead or attempt == 1:
                        break
                    # The server, not the tool, failed: say so and run it again once.
                    self.failures.pop()
                    log(f"  {dead}; running {t} again")
                    kept = rundir.with_name(rundir.name + "-emulator-died")
                    shutil.rmtree(kept, ignore_errors=True)
                    rundir.rename(kept)
                cell.runs.append(r)

    def rerun_scenario(self, sc: Scenario, tools: list[str]) -> None:
        """Scenario 4: upload once with iaup (untimed), then time each tool on the same server."""
        tools = self.pick(tools)
        self.scenarios.append(sc)
        base = self.workroot / f"s{sc.key}"
        shutil.rmtree(base, ignore_errors=True)
        emu = Emulator(sc.flags, base)
        journal = base / "journal.sqlite"
        try:
            have_journal = "--journal" in subprocess.run(
                [str(IAUP), "upload", "--help"], capture_output=True, text=True).stdout
            log(f"  {sc.key} setup: first upload with iaup (not timed)")
            setup_sc = Scenario(sc.key, sc.title, sc.wl, sc.flags, sc.profile)
            setup = self.run_tool(setup_sc, T_IAUP, emu, base / "setup", journal=journal)
            if not setup.ok:
                for t in tools:
                    sc.cells[t] = Cell(t, skipped="setup upload failed")
                return
            for t in tools:
                sc.cells[t] = Cell(t)
            if not have_journal:
                sc.cells[T_IAUP].skipped = "not available yet (`iaup upload` has no --journal)"
            for rep in range(self.args.runs):
                for t in tools:
                    cell = sc.cells[t]
                    if cell.skipped or not self.want_more(cell):
                        continue
                    rundir = base / re.sub(r"\W+", "-", t) / str(rep)
                    wl = self.workload_for(sc, t, cell)
                    r = self.run_tool(sc, t, emu, rundir, wl=wl, journal=journal)
                    if t in (T_IAUP, T_IAUP_CK) and r.stats["put"] > 0:
                        cell.skipped = (f"not available yet: the rerun re-sent "
                                        f"{r.stats['put']} of {len(sc.wl.files)} files")
                        r.note = cell.skipped
                    cell.runs.append(r)
        finally:
            emu.stop()

    def run(self) -> int:
        q = self.quick
        n_small = self.args.small_files or (100 if q else 2000)
        big_size = self.args.big_size or ((256 if q else 2048) * MiB)
        log(f"{'quick' if q else 'full'} run: jobs {self.jobs}, up to {self.args.runs} runs per "
            f"cell (budget {self.args.budget:.0f} s per cell), results in {self.out}")
        small = small_workload(n_small, 10, 16 * KiB)
        only = None
        if self.args.only:
            only = set()
            for k in self.args.only.split(","):
                k = k.strip()
                k = k.upper() if k.lower().startswith("d") else k
                only |= set(DOWNLOAD_KEYS) if k == "D" else {k}
        want = lambda k: only is None or k in only  # noqa: E731
        small_tools = [T_IAUP, T_PAR, T_LOOP, T_IA]
        big_tools = [T_IAUP, T_LOOP, T_PAR, T_IA]
        if want("1"):
            log(f"scenario 1: {small.name}, WAN profile")
            self.fresh_runs(Scenario("1", "many small files", small, WAN, "WAN: " + " ".join(WAN)), small_tools)
        if want("2"):
            big = big_workload(2, big_size)
            log(f"scenario 2a: {big.name}, loopback")
            self.fresh_runs(Scenario("2a", "big files, loopback", big, [], "loopback, no limits"), big_tools)
            log(f"scenario 2b: {big.name}, 20 MiB/s per connection")
            # 20 MiB/s makes every tool take the same long time; --quick keeps the target pair.
            self.fresh_runs(Scenario("2b", "big files, 20 MiB/s per connection", big, CAP, " ".join(CAP)),
                            [T_IAUP, T_LOOP] if q else big_tools)
        if want("3"):
            log(f"scenario 3: {small.name}, WAN + 20% SlowDown (Retry-After: 1)")
            self.fresh_runs(Scenario("3", "SlowDown storm", small, STORM, " ".join(STORM), storm=True),
                            small_tools)
        if want("4"):
            log(f"scenario 4: rerun of {small.name}, everything already uploaded, WAN profile")
            self.rerun_scenario(Scenario("4", "rerun, all uploaded", small, WAN, "WAN: " + " ".join(WAN), rerun=True),
                                [T_IAUP, T_IAUP_CK, T_PAR, T_LOOP, T_IA])
        if want("5"):
            n_rerun = self.args.rerun_files or (1000 if q else 10000)
            many = small_workload(n_rerun, 10, 1 * KiB)
            log(f"scenario 5: rerun of {many.name}, everything already uploaded, loopback")
            self.rerun_scenario(Scenario("5", "rerun at scale, all uploaded", many, [],
                                         "loopback, no limits", rerun=True), [T_IAUP])
        if want("6"):
            size = self.args.mp_size or ((256 if q else 4096) * MiB)
            part = self.args.mp_part_size or max(MiB, size // 16)
            wl = big_workload(1, size)
            flags = CAP + min_part_flags(part)
            log(f"scenario 6: {wl.name}, multipart in parts of {fmt_size(part)}, 20 MiB/s per "
                "connection")
            self.fresh_runs(Scenario("6", "one big file in parts, 20 MiB/s per connection", wl,
                                     flags, " ".join(flags), iaup_args=multipart_args(part)),
                            [T_IAUP, T_LOOP])
        if want("7"):
            # Fault decisions are a hash of the path and the attempt: with the STORM seed, the
            # 20% falls on big10, big11 (twice) in the first 12 names, big17 and big18 in 20.
            n = self.args.storm_files or (12 if q else 20)
            size = self.args.storm_size or ((4 if q else 64) * MiB)
            part = max(MiB, size // 2)  # two parts a file: each part is a call SlowDown can hit
            wl = big_workload(n, size)
            # --quick leaves out the multipart variant (its SlowDowns on every call cost it 20 s).
            tools = [T_IAUP, T_LOOP, T_LOOP_NX] if q else [T_IAUP, T_IAUP_MP, T_LOOP, T_LOOP_NX]
            for key, title, flags, storm in (
                    ("7a", "big files, calm (WAN profile)", WAN, False),
                    ("7b", "SlowDown storm over big files", STORM, True)):
                flags = flags + min_part_flags(part)
                how = "WAN + 20% SlowDown (Retry-After: 1)" if storm else "WAN profile"
                log(f"scenario {key}: {wl.name}, {how}")
                self.fresh_runs(Scenario(key, title, wl, flags, " ".join(flags), storm=storm,
                                         iaup_args=["--no-multipart"],
                                         mp_args=multipart_args(part)), tools)
        redirect = ["--download-redirect"]
        if want("D1"):
            n = self.args.dl_files or (100 if q else 2000)
            wl = dl_workload("dl1", n, 10, 16 * KiB)
            log(f"scenario D1: download {wl.name}, WAN profile")
            self.download_runs(Scenario("D1", "download many small files", wl, WAN + redirect,
                                        "WAN: " + " ".join(WAN + redirect), download=True),
                               [T_IAUP, T_PAR, T_IA])
        if want("D2"):
            size = self.args.dl_big_size or ((64 if q else 2048) * MiB)
            wl = dl_workload("dl2", 1, 1, size, name="big.bin")
            log(f"scenario D2: download {wl.name}, loopback")
            self.download_runs(Scenario("D2", "download one big file, loopback", wl, redirect,
                                        "loopback, no limits, " + " ".join(redirect),
                                        download=True), [T_IAUP, T_CURL1, T_IA])
        if want("D3"):
            n = self.args.rerun_files or (1000 if q else 10000)
            wl = dl_workload("dl3", n, 10, 1 * KiB)
            log(f"scenario D3: download again {wl.name}, everything present, loopback")
            self.download_runs(Scenario("D3", "download rerun at scale, all present", wl, redirect,
                                        "loopback, no limits, " + " ".join(redirect),
                                        rerun=True, download=True), [T_IAUP, T_IAUP_CK, T_IA])
        report = Report(self)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "RESULTS.md").write_text(report.markdown())
        (self.out / "ratios.svg").write_text(report.svg())
        log(f"wrote {self.out / 'RESULTS.md'} and {self.out / 'ratios.svg'}")
        if self.failures:
            log("FAILURES:\n  " + "\n  ".join(self.failures))
            return 1
        return 0


# ---------------------------------------------------------------------------------------------
# Report


def min_part_flags(part: int) -> list[str]:
    """The emulator's --min-part-size when the parts are under S3's 5 MiB minimum."""
    return ["--min-part-size", str(part)] if part < S3_MIN_PART else []


def parse_size(text: str) -> int:
    """A byte count: a plain number, or with a suffix KiB, MiB, GiB (K, M, G alike)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4GiB, 256MiB, 1048576)")
    return int(m.group(1)) * {"": 1, "K": KiB, "M": MiB, "G": GiB}[m.group(2).upper()]


def fmt_size(n: float) -> str:
    for unit, k in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= k:
            v = n / k
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.3f} s" if s < 1 else f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 1000 else f"{x:,.0f}x"


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


@dataclass
class Target:
    name: str
    measured: str
    met: bool | None  # None: no number
    detail: str


def target(name: str, value: float | None, goal: float, higher_better: bool, fmt,
           why_missing: str) -> Target:
    if value is None:
        return Target(name, "—", None, why_missing)
    met = value >= goal if higher_better else value < goal
    if met:
        return Target(name, fmt(value), True, "met")
    by = (goal - value) / goal if higher_better else (value - goal) / goal
    return Target(name, fmt(value), False, f"missed by {by:.0%} ({fmt(value)} against {fmt(goal)})")


class Report:
    def __init__(self, bench: Bench):
        self.b = bench
        self.sc = {s.key: s for s in bench.scenarios}

    def med(self, key: str, tool: str) -> float | None:
        s = self.sc.get(key)
        c = s.cells.get(tool) if s else None
        return c.median if c and not c.skipped else None

    def ratio(self, key: str, tool: str) -> float | None:
        a, b = self.med(key, tool), self.med(key, T_IAUP)
        return a / b if a and b else None

    def peak_rss(self, key: str, tool: str) -> int | None:
        s = self.sc.get(key)
        c = s.cells.get(tool) if s else None
        return max((r.rss_kib for r in c.runs), default=None) if c else None

    def body_ratio(self, key: str, tool: str) -> float | None:
        """The most body bytes the emulator read in one run of the cell (every PUT, parts
        included), over the files' total size."""
        s = self.sc.get(key)
        c = s.cells.get(tool) if s else None
        if not c or not c.ok:
            return None
        return max(r.stats["body_bytes"] for r in c.runs) / max(s.wl.total_bytes, 1)

    def storm_bytes(self, tool: str) -> float | None:
        """Scenario 7: body bytes of the storm run over those of the calm run (over the files'
        size when the calm run is missing)."""
        storm, calm = self.body_ratio("7b", tool), self.body_ratio("7a", tool)
        return storm / calm if storm is not None and calm else storm

    def targets(self) -> list[Target]:
        t = []

        def add(*a):
            t.append(target(*a))

        if not any(not s.download for s in self.b.scenarios):
            return t + self.download_targets()
        r = self.ratio("1", T_IA)
        add("1: iaup at least 15x faster than `ia`", r, 15, True, fmt_ratio, "no number")
        r = self.ratio("1", T_PAR)
        add("1: iaup at least 0.8x `curl --parallel` (curl time / iaup time >= 0.8)", r, 0.8, True,
            fmt_ratio, "no number")
        for k, label in (("2a", "loopback"), ("2b", "20 MiB/s per connection")):
            r = self.ratio(k, T_LOOP)
            add(f"2: iaup at least 0.9x a single `curl -T`, {label}", r, 0.9, True, fmt_ratio,
                "no number")
        rss = [(k, self.peak_rss(k, T_IAUP)) for k in ("1", "2a", "2b", "3", "4", "6", "7a", "7b")]
        rss = [(k, v) for k, v in rss if v is not None]
        if rss:
            k, v = max(rss, key=lambda kv: kv[1])
            add(f"2: iaup peak RSS under 64 MiB at any file size (worst: scenario {k})", v / 1024,
                64, False, lambda x: f"{x:.1f} MiB", "")
        s1, s3 = self.med("1", T_IAUP), self.med("3", T_IAUP)
        c3 = self.sc.get("3", None)
        intact = c3 is not None and c3.cells.get(T_IAUP) is not None and c3.cells[T_IAUP].ok
        add("3: storm finishes, every file intact, under 2x scenario 1",
            s3 / s1 if s1 and s3 and intact else None, 2, False, fmt_ratio,
            "iaup did not finish intact" if c3 else "not run")
        c4 = self.sc.get("4")
        cell = c4.cells.get(T_IAUP) if c4 else None
        add("4: rerun under 2 s", self.med("4", T_IAUP), 2, False, fmt_s,
            (cell.skipped if cell and cell.skipped else "not run"))
        c5 = self.sc.get("5")
        cell = c5.cells.get(T_IAUP) if c5 else None
        n5 = len(c5.wl.files) if c5 else 0
        add(f"5: rerun over {n5:,} uploaded files under 2 s", self.med("5", T_IAUP), 2, False,
            fmt_s, (cell.skipped if cell and cell.skipped else "not run"))
        c6 = self.sc.get("6")
        size6 = f"{fmt_size(c6.wl.files[0].size)} " if c6 else ""
        add(f"6: one {size6}file in parts (4 part jobs), 20 MiB/s per connection: iaup at least "
            "3.5x faster than a single `curl -T`", self.ratio("6", T_LOOP), 3.5, True, fmt_ratio,
            "no number" if c6 else "not run")
        v = self.peak_rss("6", T_IAUP)
        add("6: iaup peak RSS under 64 MiB, multipart", v / 1024 if v else None, 64, False,
            lambda x: f"{x:.1f} MiB", "no number" if c6 else "not run")
        for tool in (T_IAUP, T_IAUP_MP):
            how = "single PUTs" if tool == T_IAUP else "in parts"
            add(f"7: SlowDown storm over big files, {tool} ({how}): body bytes the emulator read "
                "under 1.2x a calm run's (100-continue)", self.storm_bytes(tool), 1.2, False,
                fmt_ratio, "not run" if "7b" not in self.sc or tool not in self.sc["7b"].cells
                else "no number")
        return t + self.download_targets()

    def download_targets(self) -> list[Target]:
        if not any(k in self.sc for k in DOWNLOAD_KEYS):
            return []
        t = []

        def add(*a):
            t.append(target(*a))

        add("D1: `iaup download` at least 15x faster than `ia download --search`",
            self.ratio("D1", T_IA), 15, True, fmt_ratio, "no number")
        add("D1: `iaup download` at least 0.8x `curl --parallel` (curl time / iaup time >= 0.8)",
            self.ratio("D1", T_PAR), 0.8, True, fmt_ratio, "no number")
        add("D2: `iaup download` at least 0.9x a single `curl -o`, loopback",
            self.ratio("D2", T_CURL1), 0.9, True, fmt_ratio, "no number")
        c = self.sc.get("D3")
        cell = c.cells.get(T_IAUP) if c else None
        nd = len(c.wl.files) if c else 0
        add(f"D3: download rerun over {nd:,} present files under 2 s", self.med("D3", T_IAUP), 2,
            False, fmt_s, (cell.skipped if cell and cell.skipped else "not run"))
        rss = [(k, self.peak_rss(k, T_IAUP)) for k in DOWNLOAD_KEYS]
        rss = [(k, v) for k, v in rss if v is not None]
        if rss:
            k, v = max(rss, key=lambda kv: kv[1])
            add(f"D: `iaup download` peak RSS under 64 MiB at any size (worst: scenario {k})",
                v / 1024, 64, False, lambda x: f"{x:.1f} MiB", "")
        return t

    def table(self, s: Scenario) -> list[str]:
        wl = s.wl
        reqs = "GET metadata / 302 / file" if s.download else "PUT / GET / 503"
        rows = ["| tool | runs | wall (median) | min–max | MB/s | files/s | peak RSS | intact | "
                f"time / iaup's | {reqs} | server busy / wall |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for tool, c in s.cells.items():
            if c.skipped and not c.runs:
                rows.append(f"| {tool} | 0 | {c.skipped} | | | | | | | | |")
                continue
            walls = c.walls
            med = c.median
            n_files = len(wl.files)
            mbs = "—" if s.rerun or not med else f"{wl.total_bytes / 1e6 / med:.1f}"
            fps = f"{n_files / med:,.1f}" if med else "—"
            rss = max(r.rss_kib for r in c.runs) / 1024
            intact = ", ".join(sorted({f"{r.intact}/{r.expected}" for r in c.runs}))
            st = c.runs[-1].stats
            busy = sum(r.stats["busy_s"] for r in c.runs) / max(sum(walls), 1e-9)
            wall_txt = fmt_s(med) if med else f"FAILED ({fmt_s(statistics.median(walls))})"
            if c.skipped:
                wall_txt = f"{c.skipped}"
            elif c.scale != 1:
                wall_txt += " †"
            notes = "; ".join(sorted({r.note for r in c.runs if r.note}))
            if notes:
                wall_txt += f" ({notes})"
            ratio = self.ratio(s.key, tool) if tool != T_IAUP else 1.0
            rows.append(
                f"| {tool} | {len(c.runs)} | {wall_txt} | {fmt_s(min(walls))}–{fmt_s(max(walls))} | "
                f"{mbs} | {fps} | {rss:.1f} MiB | {intact} | "
                f"{fmt_ratio(ratio) if not c.skipped else '—'} | "
                + (f"{st['meta']} / {st['redirect']} / {st['data']}" if s.download
                   else f"{st['put']} / {st['get']} / {st['s503']}")
                + f" | {busy:.2f} |")
        return rows

    def markdown(self) -> str:
        b = self.b
        now = b.started.strftime("%Y-%m-%d %H:%M UTC")
        git = b.git
        mem = ""
        try:
            kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
            mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
        except (OSError, AttributeError):
            pass
        out = [
            "# iaup benchmark results",
            "",
            f"Generated by `bench/run{' --quick' if b.quick else ''}` on {now}, "
            f"{'a reduced (--quick) run' if b.quick else 'the full run'}. "
            f"Machine: {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}. "
            f"iaup `{tool_version([str(IAUP), '--version'])}` (git {git}), "
            f"`{' '.join(tool_version(['curl', '--version']).split()[:2])}`, "
            f"`ia {tool_version([str(IA), '--version'])}` (internetarchive from PyPI).",
            "",
            "Everything ran against `ias3-emulator` on 127.0.0.1 (the emulator and the client share "
            "the machine's cores). Each timed run started from an empty emulator, except in "
            "scenario 4; after each run, every item was read back through the emulator's metadata "
            "API and every file compared by MD5 and size with the generated data (`intact`).",
            "",
        ]
        if any(s.download for s in b.scenarios):
            out += [
                "The download scenarios (D1–D3) start one emulator per scenario, its items created "
                "at start with `--seed-items` (made-up bytes, an MD5 chain of each file's name; no "
                "upload), with `--download-redirect`: `/download/ID/NAME` answers `302` to the "
                "data-node path, as archive.org does. Downloads leave the emulator unchanged, so "
                "every run of the scenario uses it; each run writes into a new empty directory "
                "(except in D3), and afterwards every downloaded file is hashed and compared by MD5 "
                "and size with the emulator's copy, as its metadata API lists it (`intact`).",
                "",
            ]
        out += [
            "How to read the tables:",
            "",
            f"- **wall** is the median over **runs** timed runs (a cell gets up to "
            f"{b.args.runs} runs, fewer when one run is long: more runs only while the cell stays "
            f"under {b.args.budget:.0f} s; slow sequential peers therefore ran once). Absolute times "
            "are noisy on this machine; compare the ratios, which come from the same run.",
            "- **time / iaup's** is the tool's median wall time divided by iaup's: above 1, iaup "
            "is faster by that factor; below 1, the tool is faster.",
            "- **MB/s** is 10^6 bytes of file data per second of wall time; **files/s** likewise.",
            "- **peak RSS** is the largest resident set of the process and its children over its "
            "runs (`ru_maxrss` via GNU `time`; for the `curl -T` loop that is the largest single "
            "`curl`).",
            "- **PUT / GET / 503** count what the emulator saw in the last run (GET includes "
            "metadata reads); in the download tables **GET metadata / 302 / file** count metadata "
            "reads, redirects and file bodies served (200 or 206); **server busy / wall** is the "
            "sum of the emulator's per-request time over the wall time: roughly how many requests "
            "were in flight on average.",
            "",
            f"Tools: **iaup** `upload --spreadsheet --jobs {b.jobs} --no-progress` (its defaults: "
            "`--retries 10`, backoff base 2 s that honours `Retry-After`, a fresh resume journal); "
            f"**curl --parallel**: one `curl --parallel --parallel-immediate --parallel-max {b.jobs}` "
            "with a config file of one transfer per file (same headers as the loop): the "
            "\"what the pipe can do\" limit at iaup's concurrency; **curl -T loop**: one `curl -T` "
            "per file, one at a time, headers `authorization: LOW K:S`, "
            "`x-archive-auto-make-bucket: 1` and the item metadata (`x-archive-meta00-title`, "
            "`x-archive-meta00-mediatype`); **ia**: `ia -i upload --spreadsheet` from "
            "internetarchive 5.12.0, sent through the emulator with `HTTP_PROXY`. In scenario 3, "
            "curl gets `--retry 20` (it honours `Retry-After`), and `ia` gets `--retries 20 "
            "--sleep 1`: its SlowDown handling sleeps a fixed time (default 30 s), set to 1 s here "
            "to match `Retry-After: 1`, which is fairer to `ia` than its default.",
            "",
        ]
        if any(s.download for s in b.scenarios):
            out += [
                f"Download tools: **iaup** `download --search 'collection:C' --glob '*.bin' "
                f"--jobs {b.jobs} --no-progress` with a fresh journal (D2: `download ID big.bin`); "
                f"**curl --parallel**: one `curl --parallel --parallel-immediate --parallel-max "
                f"{b.jobs}` with a config file of one transfer per file (`url` of "
                "`/download/ID/NAME`, `output`, `create-dirs`, `location`, `fail`); **curl -o**: "
                "one `curl --fail --location -o FILE URL`; **ia**: `ia -i download --search "
                "'collection:C' --glob '*.bin'` (D2: `ia -i download ID big.bin`) from "
                "internetarchive 5.12.0 through the emulator with `HTTP_PROXY`, its defaults "
                "otherwise. The search and the glob select the same files the curl rows are given "
                "(the items' `*.bin` files, not the generated `_meta.xml`/`_files.xml`).",
                "",
            ]
        out += [
            "## Targets",
            "",
            "| target | measured | result |",
            "|---|---|---|",
        ]
        for t in self.targets():
            res = {True: "**met**", False: f"**missed**: {t.detail}", None: t.detail}[t.met]
            out.append(f"| {t.name} | {t.measured} | {res} |")
        out += ["", "![ratios](ratios.svg)", ""]
        for s in b.scenarios:
            out += [f"## Scenario {s.key}: {s.title}", "",
                    f"{s.wl.name} ({fmt_size(s.wl.total_bytes)}); emulator: `{s.profile}`.", ""]
            if s.key == "4":
                out += [
                    "The items were first uploaded once by iaup (not timed, same journal), then each "
                    "tool was run again over the same spreadsheet. iaup skips from its resume "
                    "journal without asking the server; **iaup --checksum** (no journal) asks the "
                    "metadata API once per item and hashes the local files; `ia --checksum` does "
                    "that per spreadsheet row. The curl rows have no way to skip: they send "
                    "everything again, as a plain rerun does.", ""]
            if s.key == "5":
                out += [
                    "The resume journal at scale: the files were first uploaded once by iaup "
                    "(not timed), then the same command was timed again. Every file is skipped "
                    "from the journal (same endpoint, identifier, key, size and mtime) without "
                    "being read or asked about.", ""]
            if s.key == "6":
                out += [
                    "One file, the emulator capping every connection at 20 MiB/s (as users "
                    "report of IAS3 per connection). **iaup** is run with `"
                    + " ".join(s.iaup_args) + "`: the file goes as an S3 multipart upload, "
                    "its parts four at a time on four connections, each part's ETag checked "
                    "and the whole file's MD5 computed alongside; the emulator assembles the "
                    "parts on disk at Complete (inside iaup's time). The **curl -T loop** is one "
                    "`curl -T` of the whole file. The emulator's `--min-part-size` is lowered "
                    "only when the parts are under S3's 5 MiB.", ""]
            if s.key == "7b":
                out += [
                    "The files, tools and commands of 7a, under scenario 3's faults: 20% of the "
                    "PUTs and multipart calls answered `503 SlowDown` with `Retry-After: 1` "
                    "(which ones is a hash of the seed, the path and the attempt, so every tool "
                    "meets the same SlowDowns on the same files). The second table is the point "
                    "of the scenario.", ""]
            if s.key == "7a":
                out += [
                    "Big files, each under the multipart threshold (**iaup** with "
                    "`--no-multipart`: one PUT per file, `Expect: 100-continue` on bodies of 1 "
                    "MiB or more); **iaup multipart** is run with `" + " ".join(s.mp_args)
                    + "` (each part a PUT with `Expect: 100-continue`). The **curl -T loop** is "
                    "curl's default, which also sends `Expect: 100-continue` on a PUT with a "
                    "body and waits up to 1 s for the `100`; **curl -T, no Expect** adds "
                    "`-H 'Expect:'` and so sends each body at once, as `ia` does. Both curls get "
                    "`--retry 20` under the storm. What matters here is the body bytes the "
                    "emulator read (its `--log`: `body_size` of every PUT, parts included), "
                    "not the time: a SlowDown answered before the body costs no byte.", ""]
            if s.key == "D1":
                out += [
                    "Every tool starts from an empty directory and fetches the same files: iaup "
                    "and `ia` find the items with the scrape API and read each item's metadata; "
                    "the curl row is given the URLs and reads no metadata (so it neither selects "
                    "nor verifies anything: the \"what the pipe can do\" limit).", ""]
            if s.key == "D3":
                out += [
                    "The items were first downloaded once by iaup (not timed, same journal and "
                    "directory), then each tool was run again over the same directory. iaup skips "
                    "a file whose size and mtime match what its journal recorded when it verified "
                    "it, so it reads each item's metadata and sends no file request; **iaup "
                    "--checksum** (no journal) hashes every local file instead; `ia` (its default, "
                    "no `--checksum`) sends a GET for every file (counted under file: the "
                    "server answers 200) and skips it when `Last-Modified` and the size match the "
                    "local file, without reading the body.",
                    ""]
            out += self.table(s) + [""]
            if s.key == "7b":
                out += self.bytes_table() + [""]
            subs = [f"{c.tool}: {c.subset}" for c in s.cells.values() if c.subset]
            if subs:
                out += ["† Extrapolated linearly, not measured on the whole set: " + "; ".join(subs)
                        + ". The sequential tools' time grows linearly with the file count (one "
                        "file at a time, same cost per file); intact and the request counts are of "
                        "the subset.", ""]
            out += self.diagnosis(s)
        ran = {s.key for s in b.scenarios}
        missing = [k for k in UPLOAD_KEYS + DOWNLOAD_KEYS if k not in ran]
        if missing:
            out += [f"Not run this time: scenario(s) {', '.join(missing)} (`--only`).", ""]
        if b.failures:
            out += ["## Failures", ""] + [f"- {f}" for f in b.failures] + [""]
        if not b.quick:
            analysis = BENCH / "ANALYSIS.md"
            if analysis.exists():
                out += ["## Analysis", "",
                        "The analysis of the missed targets, written by hand after a full run, is in "
                        "[ANALYSIS.md](ANALYSIS.md); check it against the numbers above if they "
                        "changed.", ""]
        return "\n".join(out)

    def bytes_table(self) -> list[str]:
        """Scenario 7: the body bytes each tool cost the server, calm and under the storm."""
        rows = ["| tool | body bytes / files' size, calm (7a) | under the storm (7b) | "
                "storm / calm |", "|---|---|---|---|"]
        for tool in self.sc["7b"].cells:
            calm, storm = self.body_ratio("7a", tool), self.body_ratio("7b", tool)
            rows.append(f"| {tool} | {fmt_ratio(calm)} | {fmt_ratio(storm)} | "
                        f"{fmt_ratio(storm / calm if storm is not None and calm else None)} |")
        return rows + ["", "(The most bytes over a cell's runs; — where a tool failed.)"]

    def diagnosis(self, s: Scenario) -> list[str]:
        """Facts from the emulator log that explain the gaps between tools."""
        notes = []
        iaup = s.cells.get(T_IAUP)
        if not iaup or not iaup.runs or iaup.skipped:
            return []
        st = iaup.runs[-1].stats
        n = len(s.wl.files)
        if s.key in ("1", "3"):
            par = s.cells.get(T_PAR)
            if par and par.runs:
                ps = par.runs[-1].stats
                notes.append(
                    f"- iaup sent {st['requests']} requests ({st['put']} PUT, {st['get']} GET) for "
                    f"{n} files, curl --parallel {ps['requests']}; server busy / wall: iaup "
                    f"{st['busy_s'] / max(iaup.runs[-1].wall, 1e-9):.2f}, curl "
                    f"{ps['busy_s'] / max(par.runs[-1].wall, 1e-9):.2f} (of {self.b.jobs} allowed).")
            ia = s.cells.get(T_IA)
            if ia and ia.runs:
                ist = ia.runs[-1].stats
                notes.append(f"- `ia` sent {ist['requests']} requests ({ist['put']} PUT, "
                             f"{ist['get']} GET: one metadata read per row), strictly one at a time.")
        if s.key == "3":
            base = self.med("1", T_IAUP)
            for tool, c in s.cells.items():
                s1 = self.med("1", tool)
                if c.median and s1:
                    notes.append(f"- {tool}: storm / scenario 1 = {c.median / s1:.2f}x "
                                 f"({c.runs[-1].stats['s503']} SlowDown answers in the last run).")
            if base and iaup.median:
                ideal = st["s503"] * 1.0 / self.b.jobs
                notes.append(f"- With {st['s503']} SlowDowns and `Retry-After: 1`, {self.b.jobs} "
                             f"uploads at once would lose about {ideal:.1f} s if each retry waited "
                             f"exactly 1 s; iaup lost {iaup.median - base:.1f} s.")
        if s.key in ("D1", "D3"):
            for tool, c in s.cells.items():
                if not c.runs:
                    continue
                cs = c.runs[-1].stats
                n = c.runs[-1].expected
                notes.append(f"- {tool}: {cs['requests']} requests for {n} files ({cs['search']} "
                             f"search, {cs['meta']} metadata GET, {cs['redirect']} redirects, "
                             f"{cs['data']} file bodies); server busy / wall "
                             f"{cs['busy_s'] / max(c.runs[-1].wall, 1e-9):.2f}.")
        if s.key == "6":
            notes.append(f"- iaup sent {st['put']} part PUTs and {st['post']} POSTs (create and "
                         f"complete) for {n} file; {st['s503']} SlowDown answers.")
            loop = s.cells.get(T_LOOP)
            wall = iaup.runs[-1].wall
            if st["complete_s"] and loop and loop.median:
                sent = wall - st["complete_s"]
                notes.append(
                    f"- The emulator took {st['complete_s']:.1f} s to answer Complete (in the "
                    f"last run): it concatenates the parts into a new file on disk and hashes it "
                    f"before it answers. That is inside iaup's {fmt_s(wall)}; the rest, "
                    f"{fmt_s(sent)}, is iaup's own (create, the bucket check, the parts): curl -T's time "
                    f"over it is {fmt_ratio(loop.median / sent)}. How long IAS3 takes to answer "
                    f"Complete is not known (each part is a task on the item's queue there); the "
                    f"wall-time ratio above counts the emulator's assembly in and is the "
                    f"conservative figure.")
        if s.key == "7b":
            for tool, c in s.cells.items():
                if c.runs:
                    notes.append(f"- {tool}: {c.runs[-1].stats['s503']} SlowDown answers in the "
                                 f"last run, {c.runs[-1].stats['put']} PUTs.")
        if s.key in ("2a", "2b", "6", "D2"):
            for tool, c in s.cells.items():
                if c.median:
                    notes.append(f"- {tool}: {s.wl.total_bytes / MiB / c.median:.1f} MiB/s, "
                                 f"peak RSS {max(r.rss_kib for r in c.runs) / 1024:.1f} MiB.")
        return (notes + [""]) if notes else []

    def svg(self) -> str:
        """Left: grouped bars, log scale, each peer's wall time over iaup's per scenario, with
        the targets as ticks. Right: iaup's own targets (storm / scenario 1, rerun seconds)."""
        peers = [(T_PAR, "#4e79a7"), (T_LOOP, "#f28e2b"), (T_CURL1, "#edc948"), (T_IA, "#e15759"),
                 (T_IAUP_CK, "#76b7b2")]
        groups = []
        for s in self.b.scenarios:
            if s.key in ("7a", "7b"):
                continue  # what counts there is bytes, on the right
            vals = [(t, col, self.ratio(s.key, t)) for t, col in peers if t in s.cells]
            groups.append((s.key, f"{s.key}. {s.title}", vals))
        marks = {("1", T_IA): 15, ("1", T_PAR): 0.8, ("2a", T_LOOP): 0.9, ("2b", T_LOOP): 0.9,
                 ("6", T_LOOP): 3.5,
                 ("D1", T_IA): 15, ("D1", T_PAR): 0.8, ("D2", T_CURL1): 0.9}
        allv = [v for _, _, vals in groups for _, _, v in vals if v]
        lo = 10 ** math.floor(math.log10(min(allv + [0.5])))
        hi = 10 ** math.ceil(math.log10(max(allv + [20])))
        W, H, L, T, B = 1120, 500, 70, 70, 110
        PR = 820  # right edge of the left panel
        pw, ph = PR - L, H - T - B
        e = html.escape

        def lab(v: float) -> str:
            return f"{v:,.0f}" if v >= 100 else f"{v:.0f}" if v >= 10 else f"{v:.2g}"

        def y(v: float) -> float:
            return T + ph * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
                 f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
                 f'<rect width="{W}" height="{H}" fill="white"/>',
                 f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
                 f'iaup benchmark ({"quick run" if self.b.quick else "full run"}, '
                 f'{self.b.started.strftime("%Y-%m-%d")}): black ticks are the targets</text>',
                 f'<text x="{(L + PR) / 2}" y="50" text-anchor="middle" fill="#333">'
                 f'Each tool\'s wall time divided by iaup\'s (log scale; above 1x: iaup faster)</text>']
        d = lo
        while d <= hi * 1.0001:
            yy = y(d)
            parts.append(f'<line x1="{L}" x2="{PR}" y1="{yy:.1f}" y2="{yy:.1f}" '
                         f'stroke="{"#000" if d == 1 else "#ddd"}" stroke-width="{1.5 if d == 1 else 1}"/>')
            parts.append(f'<text x="{L - 6}" y="{yy + 4:.1f}" text-anchor="end">{d:g}x</text>')
            d *= 10
        gw = pw / max(len(groups), 1)
        for gi, (key, label, vals) in enumerate(groups):
            gx = L + gi * gw
            bw = min(36, (gw - 20) / max(len(vals), 1))
            x0 = gx + (gw - bw * len(vals)) / 2
            for vi, (tool, col, v) in enumerate(vals):
                x = x0 + vi * bw
                if v is None:
                    parts.append(f'<text x="{x + bw / 2:.1f}" y="{y(1) - 4:.1f}" text-anchor="middle" '
                                 f'fill="#999" font-size="10">n/a</text>')
                    continue
                y1, y0 = y(v), y(1)
                top, hgt = min(y0, y1), max(abs(y0 - y1), 1.5)
                parts.append(f'<rect x="{x + 1:.1f}" y="{top:.1f}" width="{bw - 2:.1f}" '
                             f'height="{hgt:.1f}" fill="{col}"><title>{e(tool)}: {v:.3g}x</title></rect>')
                ty = y1 - 4 if v >= 1 else y1 + 12
                parts.append(f'<text x="{x + bw / 2:.1f}" y="{ty:.1f}" text-anchor="middle" '
                             f'font-size="10">{lab(v)}</text>')
                if (key, tool) in marks:
                    my = y(marks[(key, tool)])
                    parts.append(f'<line x1="{x - 2:.1f}" x2="{x + bw + 2:.1f}" y1="{my:.1f}" '
                                 f'y2="{my:.1f}" stroke="black" stroke-width="2.5"/>')
            words, lines, cur = label.split(), [], ""
            for w_ in words:
                if len(cur) + len(w_) > 18 and cur:
                    lines.append(cur)
                    cur = w_
                else:
                    cur = f"{cur} {w_}".strip()
            lines.append(cur)
            for li, ln in enumerate(lines):
                parts.append(f'<text x="{gx + gw / 2:.1f}" y="{T + ph + 18 + li * 14}" '
                             f'text-anchor="middle">{e(ln)}</text>')
        lx = L
        present = {t for _, _, vals in groups for t, _, _ in vals}
        for tool, col in peers:
            if tool not in present:
                continue
            parts.append(f'<rect x="{lx}" y="{H - 26}" width="12" height="12" fill="{col}"/>')
            parts.append(f'<text x="{lx + 16}" y="{H - 16}">{e(tool)}</text>')
            lx += 30 + 8 * len(tool)

        # Right panel: iaup against itself, linear scale, each bar with its target.
        s1, s3, s4 = self.med("1", T_IAUP), self.med("3", T_IAUP), self.med("4", T_IAUP)
        own = [("3 ÷ 1 (storm)", s3 / s1 if s1 and s3 else None, "x", 2.0),
               ("4: rerun, s", s4, " s", 2.0)]
        if "7b" in self.sc:
            own.append(("7: storm bytes", self.storm_bytes(T_IAUP), "x", 1.2))
        if "D3" in self.sc:
            own.append(("D3: rerun, s", self.med("D3", T_IAUP), " s", 2.0))
        RL, RR = PR + 70, W - 20
        top_v = max([v for _, v, _, _ in own if v] + [3.0]) * 1.1
        ry = lambda v: T + ph * (1 - v / top_v)  # noqa: E731
        parts.append(f'<text x="{(RL + RR) / 2}" y="50" text-anchor="middle" fill="#333">'
                     f'iaup itself (lower is better)</text>')
        step = 1 if top_v <= 6 else 2 if top_v <= 12 else 5 if top_v <= 30 else 10 ** math.floor(math.log10(top_v))
        v = 0.0
        while v <= top_v:
            parts.append(f'<line x1="{RL}" x2="{RR}" y1="{ry(v):.1f}" y2="{ry(v):.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{RL - 6}" y="{ry(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
            v += step
        bw = (RR - RL) / len(own)
        for i, (label, v, unit, goal) in enumerate(own):
            x = RL + i * bw + bw * 0.25
            if v is None:
                parts.append(f'<text x="{x + bw * 0.25:.1f}" y="{ry(0) - 4:.1f}" text-anchor="middle" '
                             f'fill="#999" font-size="10">n/a</text>')
            else:
                parts.append(f'<rect x="{x:.1f}" y="{ry(v):.1f}" width="{bw * 0.5:.1f}" '
                             f'height="{max(ry(0) - ry(v), 1.5):.1f}" fill="#59a14f"/>')
                parts.append(f'<text x="{x + bw * 0.25:.1f}" y="{ry(v) - 4:.1f}" text-anchor="middle" '
                             f'font-size="10">{v:.2f}{unit}</text>')
            parts.append(f'<line x1="{x - 4:.1f}" x2="{x + bw * 0.5 + 4:.1f}" y1="{ry(goal):.1f}" '
                         f'y2="{ry(goal):.1f}" stroke="black" stroke-width="2.5"/>')
            parts.append(f'<text x="{x + bw * 0.25:.1f}" y="{T + ph + 18}" text-anchor="middle">'
                         f'{e(label)}</text>')
        parts.append("</svg>")
        return "\n".join(parts) + "\n"


def main() -> int:
    global IAUP, EMU
    ap = argparse.ArgumentParser(description="iaup benchmark (see bench/run)")
    ap.add_argument("--quick", action="store_true", help="reduced smoke run (under 5 minutes)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per cell (default 3; quick 1)")
    ap.add_argument("--budget", type=float, default=150.0,
                    help="seconds per cell after which no further run starts (default 150)")
    ap.add_argument("--jobs", type=int, default=8, help="iaup --jobs = curl --parallel-max (default 8)")
    ap.add_argument("--only", default="",
                    help="comma-separated scenarios: uploads 1,2,3,4,5, 6 (one big file in "
                    "parts, 20 MiB/s per connection), 7 (big files calm and under a SlowDown "
                    "storm: body bytes sent); downloads d1 (2,000 small files over the WAN "
                    "profile), d2 (one big file), d3 (rerun over 10,000 present files), or d for "
                    "all three (default: all)")
    ap.add_argument("--tools", default="", help="comma-separated subset of: iaup,iaup-checksum,"
                    "iaup-multipart,curl-parallel,curl-loop,curl-loop-noexpect,curl-o (D2's "
                    "single `curl -o`),ia (default all; iaup always runs)")
    ap.add_argument("--seq-subset", type=int, default=None,
                    help="run ia and the curl -T loop on the first N small files only (in D1 "
                    "and D3: ia on the items holding the first N files) and "
                    "extrapolate linearly, said so in RESULTS.md (default: all; --quick: 30)")
    ap.add_argument("--small-files", type=int, default=0, help="override the small-file count")
    ap.add_argument("--rerun-files", type=int, default=0,
                    help="files in scenarios 5 and D3, the reruns at scale (default 10000; "
                    "quick 1000)")
    ap.add_argument("--big-size", type=int, default=0, help="override the big-file size (bytes)")
    ap.add_argument("--mp-size", type=parse_size, default=0,
                    help="size of scenario 6's file, e.g. 4GiB (default 4 GiB; quick 256 MiB)")
    ap.add_argument("--mp-part-size", type=parse_size, default=0,
                    help="scenario 6's part size (default: the file's size / 16, at least 1 MiB)")
    ap.add_argument("--storm-files", type=int, default=0,
                    help="files in scenario 7 (default 20; quick 12)")
    ap.add_argument("--storm-size", type=parse_size, default=0,
                    help="size of each of scenario 7's files (default 64 MiB; quick 4 MiB)")
    ap.add_argument("--dl-files", type=int, default=0,
                    help="files in scenario D1 (default 2000; quick 100)")
    ap.add_argument("--dl-big-size", type=int, default=0,
                    help="size of D2's file in bytes (default 2 GiB; quick 64 MiB)")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="per-run timeout, seconds")
    ap.add_argument("--out", default=None, help="where RESULTS.md and ratios.svg go "
                    "(default bench/, or bench/data/quick with --quick)")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.seq_subset is None:
        args.seq_subset = 30 if args.quick else 0
    if args.out is None:
        args.out = str(DATA / "quick") if args.quick else str(BENCH)
    for p in (IAUP, EMU, IA, Path(TIME)):
        if not p.exists():
            sys.exit(f"missing {p}: run bench/run, which builds and installs it")
    # Run copies, so a rebuild in the workspace during a long run cannot change the binaries.
    bindir = DATA / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name, src in (("iaup", IAUP), ("ias3-emulator", EMU)):
        dst = bindir / name
        tmp = dst.with_suffix(".new")
        shutil.copy2(src, tmp)
        tmp.rename(dst)
    IAUP, EMU = bindir / "iaup", bindir / "ias3-emulator"
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
