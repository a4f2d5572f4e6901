"""The cross-rank SIGTERM check runs every N steps, at the same steps on every rank."""

from types import SimpleNamespace

from ssl_app.train.sigterm_check import SigtermCheckEveryNSteps


def test_the_check_runs_on_every_nth_step_only():
    calls, step = [], SimpleNamespace(value=0)
    check = SigtermCheckEveryNSteps(every_n_steps=4).throttled(
        lambda: calls.append(step.value), lambda: step.value
    )
    for step.value in range(10):
        check()
    assert calls == [0, 4, 8]


def test_fit_start_wraps_lightnings_check_and_leaves_other_versions_alone():
    calls = []
    loop = SimpleNamespace(total_batch_idx=3, _broadcast_sigterm_tensor=lambda: calls.append(1))
    trainer = SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=loop))
    SigtermCheckEveryNSteps(every_n_steps=3).on_fit_start(trainer, None)
    loop._broadcast_sigterm_tensor()
    loop.total_batch_idx = 4
    loop._broadcast_sigterm_tensor()
    assert calls == [1]

    without = SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace()))
    SigtermCheckEveryNSteps().on_fit_start(without, None)  # an older Lightning: nothing to wrap
    assert not hasattr(without.fit_loop.epoch_loop, "_broadcast_sigterm_tensor")
