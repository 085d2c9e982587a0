"""Smoke test of the local Citus cluster: two active workers, a distributed and a reference table,
and a distributed query whose tasks run on both workers."""

import psycopg
import pytest

from tests.citus.cluster import CitusError, find_citus_source

pytestmark = pytest.mark.citus


def test_cluster_distributes_tables_over_both_workers(citus_cluster, citus_url):
    worker_ports = sorted(worker.port for worker in citus_cluster.workers)
    with psycopg.connect(citus_url, autocommit=True) as conn:
        active = conn.execute("SELECT node_port FROM citus_get_active_worker_nodes() ORDER BY node_port").fetchall()
        assert [port for (port,) in active] == worker_ports

        conn.execute("CREATE TABLE plays (video_id bigint NOT NULL, tier int NOT NULL, seconds bigint NOT NULL)")
        conn.execute("SELECT create_distributed_table('plays', 'video_id')")
        conn.execute("CREATE TABLE tiers (tier int PRIMARY KEY, won_per_second numeric NOT NULL)")
        conn.execute("SELECT create_reference_table('tiers')")
        conn.execute("INSERT INTO tiers VALUES (1, 1.5), (2, 2)")
        conn.execute("INSERT INTO plays SELECT v, 1 + v % 2, 10 FROM generate_series(1, 1000) AS v")

        placements = conn.execute(
            "SELECT table_name::text, array_agg(DISTINCT nodeport ORDER BY nodeport) FROM citus_shards GROUP BY 1"
        ).fetchall()
        assert dict(placements)["plays"] == worker_ports
        assert set(worker_ports) <= set(dict(placements)["tiers"])  # and the coordinator's copy

        payout_query = "SELECT sum(p.seconds * t.won_per_second) FROM plays p JOIN tiers t USING (tier)"
        assert conn.execute(payout_query).fetchone()[0] == 500 * 10 * 1.5 + 500 * 10 * 2

        conn.execute("SET citus.explain_all_tasks = on")
        plan = "\n".join(row for (row,) in conn.execute(f"EXPLAIN {payout_query}").fetchall())
        assert "Custom Scan (Citus Adaptive)" in plan
        for port in worker_ports:
            assert f"port={port}" in plan, plan


def test_missing_source_names_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("SETTLEMENT_CITUS_SOURCE", str(tmp_path))
    with pytest.raises(CitusError, match=f"SETTLEMENT_CITUS_SOURCE={tmp_path}"):
        find_citus_source()
