"""Mappings: a foreign export (other names, spellings, number styles, local times, line items)
becomes the contract; a mapping naming what the files lack fails before anything is written."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from features import lake
from features.ingest import ingest_sources
from features.mapping import MappingError
from features.mapping_yaml import load_mapping
from orderlens.settings import load_settings
from tests.features.sources import good_sources, write_sources


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path / "home")


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


SHOP_MAPPING = """
    # a Brazilian marketplace export
    time_zone: America/Sao_Paulo
    nulls: ["N/A", "-"]
    tables:
      orders:
        files: pedidos_*.csv
        csv: {delimiter: ";"}
        columns:
          order_id: Pedido
          customer_id: {first_of: [Cliente, Email]}
          created_at: {column: Data, format: "%d/%m/%Y %H:%M"}
          promised_at: {column: Prazo, format: "%d/%m/%Y %H:%M"}
          order_value: {column: Total, number: {decimal: ",", thousands: ".", strip: ["R$"]}}
          dest_region: UF
          payment_method:
            column: Pagamento
            values: {cartao: card, boleto: boleto}
            other: keep
          is_b2b: {value: false}
          discount: {column: Desconto, number: eu}
          seller_state: Vendedor_UF
          parcelas: {column: Parcelas, type: integer}
        items:
          - files: itens.jsonl
            key: pedido
            on: Pedido
            columns:
              n_items: {count: "*"}
              freight_cost: {sum: frete}
              category: {first: categoria}
      tickets:
        files: chamados.jsonl
        columns:
          ticket_id: id
          created_at: aberto_em
          text: mensagem
          order_id: pedido
          language: {value: pt-BR}
      outcomes:
        files: entregas.parquet
        columns:
          order_id: pedido
          delivered_at: entregue_em
          status: situacao
          review_score: {column: nota, number: plain}
"""


def shop_export(folder):
    """A small export in a Brazilian marketplace's own shape (three files, three formats)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pedidos_2025.csv").write_text(
        "Pedido;Cliente;Email;Data;Prazo;Total;UF;Pagamento;Desconto;Vendedor_UF;Parcelas\n"
        "P1;C1;a@x;01/03/2025 08:00;05/03/2025 18:00;R$ 1.234,50;SP;cartao;10,00;MG;3\n"
        "P2;;b@x;02/03/2025 09:30;06/03/2025 18:00;99,90;RJ;pix;N/A;SP;1\n"
        "P3;C3;c@x;03/03/2025 10:00;01/03/2025 18:00;50,00;BA;boleto;-;SP;2\n"
    )
    items = [
        {"pedido": "P1", "frete": 12.5, "categoria": "eletronicos"},
        {"pedido": "P1", "frete": 7.5, "categoria": "livros"},
        {"pedido": "P2", "frete": 3.0, "categoria": "moda"},
        {"pedido": "P9", "frete": 1.0, "categoria": "orfao"},
    ]
    (folder / "itens.jsonl").write_text("\n".join(json.dumps(i) for i in items))
    tickets = [
        {
            "id": "T1",
            "aberto_em": "2025-03-04T10:00:00-03:00",
            "mensagem": "Cadê meu pedido?",
            "pedido": "P1",
        },
        {
            "id": "T2",
            "aberto_em": "2025-03-04T11:00:00-03:00",
            "mensagem": "Quero trocar",
            "pedido": "P3",
        },
    ]
    (folder / "chamados.jsonl").write_text("\n".join(json.dumps(t) for t in tickets))
    pd.DataFrame(
        {
            "pedido": ["P1", "P2"],
            "entregue_em": pd.to_datetime(["2025-03-05 12:00", None]).tz_localize("UTC"),
            "situacao": ["entregue", "cancelado"],
            "nota": ["5", "N/A"],
        }
    ).to_parquet(folder / "entregas.parquet")
    return folder


def test_a_foreign_export_is_mapped_into_the_contract(tmp_path, settings):
    mapping = write(tmp_path / "shop.yaml", SHOP_MAPPING)
    summary = ingest_sources(shop_export(tmp_path / "export"), settings, mapping=mapping)
    orders = summary.tables["orders"]
    # P3's promise is before its creation: quarantined, and its ticket held back with it.
    assert (orders.rows_in, orders.added, orders.quarantined) == (3, 2, 1)
    assert orders.broken_rules == {"orders.promise_after_creation": 1}
    assert summary.tables["tickets"].broken_rules == {"tickets.order_quarantined": 1}
    assert orders.orphan_items == 1, "the item of an unknown order is reported, not dropped"
    assert "P9" in orders.orphans_file.read_text()

    stored = lake.read_lake(settings, "orders").set_index("order_id")
    p1, p2 = stored.loc["P1"], stored.loc["P2"]
    assert p1["order_value"] == 1234.5 and p2["order_value"] == 99.9  # "R$ 1.234,50", "99,90"
    assert p1["discount"] == 10.0 and pd.isna(p2["discount"])  # "N/A" is a declared null
    assert p2["customer_id"] == "b@x", "first non-empty of Cliente, Email"
    assert (p1["payment_method"], p2["payment_method"]) == ("card", "pix")  # mapped, kept
    # 08:00 in São Paulo (UTC-3) is 11:00 UTC.
    assert p1["created_at"] == pd.Timestamp("2025-03-01 11:00", tz="UTC")
    assert (p1["n_items"], p1["freight_cost"], p1["category"]) == (2, 20.0, "eletronicos")
    assert (p2["n_items"], p2["freight_cost"]) == (1, 3.0)
    assert p1["is_b2b"] == False  # noqa: E712  (a constant; stored as a nullable bool)
    assert (p1["seller_state"], p1["parcelas"]) == ("MG", 3), "extra columns are carried"

    tickets = lake.read_lake(settings, "tickets")
    assert tickets[["ticket_id", "language"]].values.tolist() == [["T1", "pt-BR"]]
    outcomes = lake.read_lake(settings, "outcomes").set_index("order_id")
    assert outcomes.loc["P2", "status"] == "cancelado" and pd.isna(
        outcomes.loc["P2", "delivered_at"]
    )
    assert pd.isna(outcomes.loc["P2", "review_score"]) and outcomes.loc["P1", "review_score"] == 5


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("UF", "Estado"), 14, "column 'Estado' is not in the orders files"),
        (("frete", "frete_total"), 29, "column 'frete_total' is not in the item files"),
        (("mensagem", "texto"), 36, "column 'texto' is not in the tickets files"),
    ],
)
def test_a_column_the_files_lack_fails_before_anything_is_written(
    tmp_path, settings, change, line, message
):
    mapping = write(tmp_path / "shop.yaml", SHOP_MAPPING.replace(*change))
    with pytest.raises(MappingError, match=message) as error:
        ingest_sources(shop_export(tmp_path / "export"), settings, mapping=mapping)
    assert f"shop.yaml, line {line}:" in str(error.value)
    assert not lake.has_table(settings, "orders"), "nothing is written"
    assert not settings.quarantine_dir.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tables:\n  orders:\n    colums: {}\n", "line 3: unknown key 'colums'"),
        ("tables:\n  shipments: {}\n", "line 2: 'shipments' is not a contract table"),
        ("time_zone: Mars/Olympus\ntables: {orders: {}}\n", "line 1: unknown time zone"),
        (
            "tables:\n  orders:\n    columns:\n      order_value: {column: x, number: roman}\n",
            "line 4: number 'roman'",
        ),
        (
            "tables:\n  orders:\n    columns:\n      dest_region: {column: x, format: '%Y'}\n",
            "line 4: format applies to timestamps",
        ),
        ("tables:\n  orders:\n    columns:\n      order_id: {}\n", "exactly one of column"),
        ("tables: [orders]\n", "'tables:' must map table names"),
        ("tables:\n  orders: {files: [\n", "not valid YAML"),
    ],
)
def test_malformed_mappings_name_their_line(tmp_path, text, message):
    with pytest.raises(MappingError, match=message):
        load_mapping(write(tmp_path / "m.yaml", text))


def test_value_map_keys_are_read_as_written(tmp_path):
    """An unquoted `yes:` or `1:` key is the text the export holds, not a YAML boolean/number."""
    mapping = load_mapping(
        write(
            tmp_path / "m.yaml",
            """
            tables:
              orders:
                columns:
                  is_presale: {column: pre, values: {yes: true, no: false, 1: true}}
            """,
        )
    )
    (rule,) = mapping.tables["orders"].columns
    assert dict(rule.values) == {"yes": True, "no": False, "1": True}


def test_naive_times_are_quarantined_unless_the_mapping_names_the_zone(tmp_path, settings):
    tables = good_sources()
    orders = tables["orders"]
    for column in ("created_at", "promised_at"):
        orders[column] = orders[column].dt.tz_localize(None).astype(str)  # "2025-03-01 08:00:00"
    write_sources({"orders": orders}, tmp_path / "src", fmt="csv")
    report = ingest_sources(tmp_path / "src", settings).tables["orders"]
    assert report.broken_rules == {"naive_time:created_at": 2, "naive_time:promised_at": 2}
    reasons = pd.read_csv(report.quarantine_file)["quarantine_reason"]
    assert reasons.str.contains("has no time zone").all()

    mapping = write(tmp_path / "m.yaml", "time_zone: Asia/Shanghai\ntables: {orders: {}}\n")
    zoned = ingest_sources(tmp_path / "src", settings, mapping=mapping).tables["orders"]
    assert (zoned.added, zoned.quarantined) == (2, 0)
    created = lake.read_lake(settings, "orders").set_index("order_id").loc["O1", "created_at"]
    assert created == pd.Timestamp("2025-03-01 00:00", tz="UTC"), "08:00 in Shanghai"


def test_demo_mapping_ingests_a_simulated_world(tmp_path, settings):
    from pathlib import Path

    from simulator.world import WorldConfig, simulate_world, write_world

    world = simulate_world(WorldConfig(n_orders=200, seed=3, days=30))
    write_world(world, tmp_path / "world")
    mapping = Path(__file__).parents[2] / "examples" / "demo" / "mapping.yaml"
    summary = ingest_sources(tmp_path / "world", settings, mapping=mapping)
    for table, frame in world.items():
        if table in summary.tables:
            report = summary.tables[table]
            assert (report.added, report.quarantined) == (len(frame), 0), table
    stored = lake.read_lake(settings, "outcomes")
    assert "review_score" in stored and stored["review_score"].notna().any()
