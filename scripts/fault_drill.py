"""Fault drill: bad inputs, signals with resume, broken and malicious files, a decompression
bomb and a killed DDP rank, each run through the real commands as a user would. One line per
case with the exit code and the verdict, then the count for the README.

    python scripts/fault_drill.py                 # everything (about 10 minutes on 2 cores)
    python scripts/fault_drill.py --only inputs   # the bad-input battery only
    python scripts/fault_drill.py --case 'DDP ranks + resume'   # the faults named so only
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from rich.console import Console
from rich.markup import escape

PY = sys.executable
PRETRAIN, EVAL, EXPORT = ([PY, "-m", f"ssl_app.{m}"] for m in ("pretrain", "evaluate", "export"))
TINY = ["model=tiny", "epochs=1", "optim.batch_size=64", "data.num_workers=0"]
TINY += ["data.persistent_workers=false", "trainer.enable_progress_bar=false"]
QUICK_EVAL = ["eval.linear=false", "eval.raw_pixels=false", "eval.baselines=false"]
LONG = "epochs=40"  # runs that are signalled mid-training, then resumed to the end
console = Console(highlight=False, soft_wrap=True)


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def one_line_error(done: subprocess.CompletedProcess) -> bool:
    """Exit 2 with `error: ...` as the only line on stderr (warnings aside), no traceback."""
    errors = [line for line in stderr_lines(done) if line.startswith("error: ")]
    return done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr


def bad_inputs(work: Path, good_ckpt: Path) -> list[tuple[str, list[str]]]:
    """(name, command) of inputs that must each end in one line and exit 2."""
    empty, junk, victim = work / "empty", work / "junk.ckpt", work / "precious.txt"
    empty.mkdir(exist_ok=True)
    junk.write_bytes(b"not a checkpoint")
    existing = work / "a_file"
    existing.write_text("x")
    bad_pretrain = [
        "epochs=abc", "epochs=0", "loss.temperature=abc", "loss.temperature=inf",
        "loss.temperature=0", "optim.base_lr=inf", "optim.base_lr=nan", "optim.base_lr=-1",
        "optim.batch_size=0", "optim.batchsize=64", "data=digitz", "data.image_size=0",
        "data.views.hflip=2", "data.views.crop_scale=[0.5]", "data.views.crop_scale=abc",
        "eval.every_n_epochs=0", "model.backbone=no_such_net", "model=no_such_model",
        "data=imagefolder data.root=/no/such/dir", f"data=imagefolder data.root={empty}",
        "data=fashion_mnist data.root=/no/such/dir", f"data=cifar10 data.root={empty}",
        "resume=/no/such/run", f"resume={junk}", "loss=no_such_loss",
    ]  # fmt: skip
    if not torch.cuda.is_available():
        bad_pretrain.append("trainer=gpu")
    cases = [(f"ssl-pretrain {o}", [*PRETRAIN, *TINY, *o.split(), f"hydra.run.dir={work}/r"])
             for o in bad_pretrain]  # fmt: skip
    nan = non_finite(good_ckpt, work)
    bad_eval = ["checkpoint=/no/such.ckpt", f"checkpoint={junk}", "protocl=knn",
                f"checkpoint={truncated(good_ckpt, work)}", f"checkpoint={nan}",
                f"checkpoint={malicious(good_ckpt, work, victim)}", f"run_dir={empty}"]  # fmt: skip
    cases += [(f"ssl-eval {o}", [*EVAL, o, "cache_dir=null"]) for o in bad_eval]
    bad_export = [f"checkpoint={junk}", f"checkpoint={nan}", "run_dir=/no/such/run", "out=x",
                  f"checkpoint={good_ckpt} out={existing}"]  # fmt: skip
    cases += [(f"ssl-export {o}", [*EXPORT, *o.split()]) for o in bad_export]
    return cases


def edited(good: Path, work: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """A copy of checkpoint `good` changed by `edit`, saved as `work/name/checkpoints/last.ckpt`."""
    ckpt = torch.load(good, map_location="cpu", weights_only=True)
    edit(ckpt)
    path = work / name / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def non_finite(good: Path, work: Path) -> Path:
    def poison(ckpt: dict) -> None:
        next(iter(ckpt["state_dict"].values())).fill_(float("nan"))

    return edited(good, work, "nan", poison)


def malicious(good: Path, work: Path, victim: Path) -> Path:
    """A checkpoint whose stored data config would open (and empty) `victim` if instantiated."""
    victim.write_text("keep me")

    def plant(ckpt: dict) -> None:
        target = {"_target_": "builtins.open", "_args_": [str(victim), "w"]}
        ckpt["hyper_parameters"]["cfg"]["data"] = target

    return edited(good, work, "malicious", plant)


def truncated(good: Path, work: Path) -> Path:
    path = work / "truncated.ckpt"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return path


def train_until_checkpoint(run_dir: Path, *overrides: str) -> subprocess.Popen:
    """A long tiny run started in the background, returned once epoch 1's last.ckpt exists."""
    cmd = [*PRETRAIN, *TINY, *QUICK_EVAL, LONG, f"hydra.run.dir={run_dir}", *overrides]
    # A shell's background job starts with SIGINT ignored, and so would the run: undo that.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    return proc


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_and_resume(work: Path, sig: signal.Signals, expected: int) -> tuple[int, bool, str]:
    run_dir = work / f"signal_{sig.name}"
    proc = train_until_checkpoint(run_dir)
    proc.send_signal(sig)
    wait_or_kill(proc, 300)
    resumed = run([*PRETRAIN, *TINY, *QUICK_EVAL, LONG, "resume=auto",
                   f"hydra.run.dir={run_dir}"])  # fmt: skip
    ok = proc.returncode == expected and resumed.returncode == 0
    return proc.returncode, ok, f"resume=auto then exit {resumed.returncode}"


def broken_last_falls_back(work: Path, good: Path) -> tuple[int, bool, str]:
    run_dir = work / "fallback"
    (run_dir / "checkpoints").mkdir(parents=True)
    older = run_dir / "hpc_ckpt_1.ckpt"
    older.write_bytes(good.read_bytes())
    os.utime(older, (time.time() - 60, time.time() - 60))
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(good.read_bytes()[:1000])
    done = run([*PRETRAIN, *TINY, *QUICK_EVAL, "epochs=2", "resume=auto",
                f"hydra.run.dir={run_dir}"])  # fmt: skip
    ok = done.returncode == 0 and "skipping a broken checkpoint" in done.stderr
    return done.returncode, ok, "newest readable checkpoint used, broken one named"


def diverged_run(work: Path) -> tuple[int, bool, str]:
    run_dir = work / "diverged"
    done = run([*PRETRAIN, *TINY, "optim.base_lr=1e6", f"hydra.run.dir={run_dir}"])
    last = run_dir / "checkpoints" / "last.ckpt"
    finite = not last.is_file() or all(
        torch.isfinite(v).all() for v in torch.load(last, weights_only=True)["state_dict"].values()
    )
    return done.returncode, one_line_error(done) and finite, "stopped, no NaN checkpoint"


def image_bombs(work: Path) -> tuple[int, bool, str]:
    """A 12,000² PNG of a few hundred KB and a corrupt file beside normal images."""
    root = work / "bomb"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(20):
            Image.new("RGB", (40, 40), (i * 10, 50, 100)).save(root / label / f"{i}.png")
    Image.new("L", (12_000, 12_000)).save(root / "a" / "bomb.png", optimize=True)
    (root / "b" / "corrupt.png").write_bytes(b"\x89PNG garbage")
    folder = ["data=imagefolder", f"data.root={root}", "optim.batch_size=8"]
    folder.append("data.pin_memory=false")
    done = run([*PRETRAIN, *TINY, *QUICK_EVAL, *folder, f"hydra.run.dir={work}/bomb_run"])
    named = "bomb.png" in done.stderr + done.stdout and "corrupt.png" in done.stderr + done.stdout
    return done.returncode, done.returncode == 0 and named, "both skipped and named"


def killed_ddp_rank(work: Path) -> tuple[int, bool, str]:
    """SIGKILL one of two gloo ranks; the other must stop too, not hang."""
    proc = train_until_checkpoint(work / "ddp", "trainer=ddp_cpu")
    children = [pid for pid in child_pids(proc.pid) if pid != proc.pid]
    if not children:
        proc.kill()
        return -1, False, "no second rank found"
    os.kill(children[0], signal.SIGKILL)
    start = time.monotonic()
    wait_or_kill(proc, 120)
    seconds = time.monotonic() - start
    return proc.returncode, proc.returncode != 0, f"rank 0 stopped {seconds:.0f} s later"


def ddp_signal_and_resume(work: Path, sig: signal.Signals, expected: int) -> tuple[int, bool, str]:
    """`sig` to both gloo ranks, as scancel (SIGTERM) or Ctrl-C in the terminal (SIGINT, to the
    whole process group) sends it: both stop and save `last.ckpt` at that step, and resume=auto
    continues from it to the end."""
    run_dir = work / f"ddp_{sig.name}"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = train_until_checkpoint(run_dir, "trainer=ddp_cpu")
    signalled = time.time()
    for pid in {proc.pid, *child_pids(proc.pid)}:
        os.kill(pid, sig)
    start = time.monotonic()
    wait_or_kill(proc, 120)
    seconds = time.monotonic() - start
    saved = last.stat().st_mtime >= signalled
    step = torch.load(last, weights_only=True)["global_step"]
    resumed = run([*PRETRAIN, *TINY, *QUICK_EVAL, LONG, "resume=auto", "trainer=ddp_cpu",
                   f"hydra.run.dir={run_dir}"])  # fmt: skip
    continued = f"(step {step})" in resumed.stdout
    ok = proc.returncode == expected and saved and continued and resumed.returncode == 0
    written = "written" if saved else "NOT written"
    again = "resumed from it" if continued else "NOT resumed from it"
    note = f"stopped in {seconds:.0f} s, last.ckpt {written} at step {step}, {again}"
    return proc.returncode, ok, f"{note}, then exit {resumed.returncode}"


def wait_or_kill(proc: subprocess.Popen, timeout: float) -> None:
    """Wait for `proc`; one still running after `timeout` s is killed and reported as hung."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def child_pids(parent: int) -> list[int]:
    """Direct children of `parent` (from /proc; Linux)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append(int(stat.parent.name))
    return pids


def report(name: str, code: int, ok: bool, note: str, rows: list[dict]) -> None:
    verdict = "[green]handled    [/]" if ok else "[red]NOT handled[/]"
    console.print(f"{verdict}  exit {code:>4}  {escape(name)}  [dim]{escape(note)}[/]")
    rows.append({"case": name, "exit": code, "handled": ok, "note": note})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["inputs", "faults"], help="one battery only")
    parser.add_argument("--case", help="only the faults whose name contains this")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        console.print("training a tiny reference run for the file cases ...")
        run([*PRETRAIN, *TINY, *QUICK_EVAL, f"hydra.run.dir={work}/good"], timeout=600)
        good = work / "good" / "checkpoints" / "last.ckpt"
        if args.only != "faults" and args.case is None:
            for name, cmd in bad_inputs(work, good):
                done = run(cmd)
                report(name, done.returncode, one_line_error(done), last_line(done), rows)
            victim = (work / "precious.txt").read_text()
            report("malicious checkpoint leaves its victim", 0, victim == "keep me", victim, rows)
        if args.only != "inputs":
            for name, case in fault_cases(work, good):
                if args.case is not None and args.case not in name:
                    continue
                try:
                    report(name, *case(), rows)
                except subprocess.TimeoutExpired as err:
                    report(name, -1, False, f"hung: no exit {err.timeout:.0f} s after", rows)
    summarise(rows, args.json)


def fault_cases(work: Path, good: Path) -> list[tuple[str, Callable[[], tuple]]]:
    """(name, case) of the faults; each case returns (exit code, handled, note)."""
    term, sigint, kill = signal.SIGTERM, signal.SIGINT, signal.SIGKILL
    return [
        ("SIGTERM (docker stop, scancel) + resume", lambda: signal_and_resume(work, term, 143)),
        ("SIGINT (Ctrl-C) + resume", lambda: signal_and_resume(work, sigint, 130)),
        ("SIGKILL (OOM killer) + resume", lambda: signal_and_resume(work, kill, -9)),
        ("truncated last.ckpt, resume=auto", lambda: broken_last_falls_back(work, good)),
        ("diverged run (optim.base_lr=1e6)", lambda: diverged_run(work)),
        ("decompression bomb + corrupt image", lambda: image_bombs(work)),
        ("killed DDP rank (2 gloo processes)", lambda: killed_ddp_rank(work)),
        ("SIGTERM to both DDP ranks + resume", lambda: ddp_signal_and_resume(work, term, 143)),
        ("SIGINT to both DDP ranks + resume", lambda: ddp_signal_and_resume(work, sigint, 130)),
    ]  # fmt: skip


def stderr_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


def last_line(done: subprocess.CompletedProcess) -> str:
    lines = stderr_lines(done)
    return (lines[-1] if lines else "")[:110]


def summarise(rows: list[dict], json_path: Path | None) -> None:
    handled = sum(row["handled"] for row in rows)
    console.print(f"\n{handled} of {len(rows)} cases handled")
    if json_path:
        json_path.write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    main()
