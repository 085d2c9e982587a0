"""A payment run killed midway pays nothing of its batch, never half: killed by SIGKILL or by
pg_terminate_backend while it is recording its payments (held at a statement by a row lock, so the
kill lands mid-batch, with earlier payments recorded in its transaction), then run again it pays
everything once. A run whose file could not be written after its commit is paid; run again, it pays
nothing twice and writes the file from the database."""

import datetime as dt
import os
import signal
import time

import pytest

from tests.payments.test_pay import Gate, pay_process, read_file, wait_until_blocked

AUG = dt.date(2026, 8, 1)


@pytest.fixture
def four_payable(books):
    sellers = [books.seller() for _ in range(4)]
    for seller in sellers:
        books.account(seller)
    books.close_month(AUG, dict.fromkeys(sellers, 300_000))
    books.issue(AUG)
    return sellers


def recorded(conn) -> tuple[int, int]:
    return conn.execute("SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM payment_runs)").fetchone()


def wait_gone(conn, pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, "the killed run's session is still there"
        time.sleep(0.05)


@pytest.mark.parametrize(("kill", "at"), [("SIGKILL", 1), ("SIGKILL", 2), ("SIGKILL", 3), ("pg_terminate_backend", 2)])
def test_a_run_killed_mid_batch_pays_nothing_and_the_next_run_pays_everything_once(
    books, four_payable, payments_url, tmp_path, kill, at
):
    gate = Gate(payments_url, f"{four_payable[at]}-1")  # the run waits here, `at` payments recorded
    run = pay_process(payments_url, "2026-08", tmp_path / "killed")
    try:
        backend = wait_until_blocked(books.conn, gate.pid)
        in_flight = books.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'", (backend,)
        ).fetchone()[0]
        assert in_flight == 1  # it holds the payments lock, mid-transaction
        if kill == "SIGKILL":
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        else:
            books.conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
            _, err = run.communicate(timeout=60)
            assert run.returncode == 1 and err.startswith("error: "), err
    finally:
        gate.open()
    wait_gone(books.conn, backend)
    assert recorded(books.conn) == (0, 0)  # nothing of the batch
    assert not (tmp_path / "killed").exists()

    again = pay_process(payments_url, "2026-08", tmp_path / "again")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "4 transfers, 1,160,400 KRW" in out
    books.ref.pay(AUG)
    assert recorded(books.conn) == (4, 1)
    [file] = (tmp_path / "again").iterdir()
    assert [row[0] for row in read_file(file)[1:-1]] == [f"{seller}-1" for seller in four_payable]
    books.check_money()


def test_a_run_whose_file_was_not_written_is_paid_and_the_next_run_writes_the_file_only(
    books, four_payable, payments_url, tmp_path
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the run's folder should be")
    first = pay_process(payments_url, "2026-08", blocked / "files")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 1, err
    assert err.startswith("error: paid run 1 (4 transfers) but could not write the transfer file"), err
    assert "it pays nothing twice and writes the file from the database" in err
    assert recorded(books.conn) == (4, 1)  # committed: paid
    stored = books.conn.execute("SELECT file_name, transfer_file FROM payment_runs").fetchone()

    again = pay_process(payments_url, "2026-08", tmp_path / "files")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "nothing to pay for 2026-08 and before (4 of its statements were paid before)" in out
    assert f"wrote again a transfer file a run left unwritten: {tmp_path / 'files' / stored[0]}" in out
    assert (tmp_path / "files" / stored[0]).read_bytes().decode() == stored[1]
    assert recorded(books.conn) == (4, 1)
    books.ref.pay(AUG)
    books.check_money()
