"""Table definitions. SQLModel ``table=True`` classes stay inside ``ledger.store``.

Only :func:`ledger.store.db.create_schema` imports this module: queries on the hot paths are
plain SQL, so commands start without loading pydantic (about 0.3 s of process start).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, text
from sqlmodel import Field, SQLModel


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class EntryRow(SQLModel, table=True):
    """One ledger entry. ``entry_bytes`` is the truth; the rest is derived from it."""

    __tablename__ = "entries"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(index=True)
    recorded_at: str
    prev_hash: str
    entry_hash: str
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    entry_bytes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    submission_seq: int | None = None


class MerkleNodeRow(SQLModel, table=True):
    """Hash of the complete subtree (level >= 1, index) over leaves [index·2^level, ...)."""

    __tablename__ = "merkle_nodes"
    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    idx: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SubmissionNodeRow(SQLModel, table=True):
    """Complete subtree (level >= 1) of a submission's records_root tree, for in-submission
    proofs in labels. Leaves are the covered entries' payload bytes, sliced from entries."""

    __tablename__ = "submission_nodes"
    submission_seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    idx: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointRow(SQLModel, table=True):
    __tablename__ = "checkpoints"
    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    root_hash: str
    note: str
    signed_at: str


class SupplierRow(SQLModel, table=True):
    __tablename__ = "suppliers"
    supplier_id: str = Field(primary_key=True)
    name: str
    country: str
    seq: int


class SupplierKeyRow(SQLModel, table=True):
    __tablename__ = "supplier_keys"
    key_id: str = Field(primary_key=True)
    supplier_id: str = Field(index=True)
    public_key: str
    added_seq: int
    effective_at: str
    revoked_seq: int | None = None
    revoked_at: str | None = None


class ProductRow(SQLModel, table=True):
    __tablename__ = "products"
    product_id: str = Field(primary_key=True)
    supplier_id: str = Field(index=True)
    name: str
    declared_unit: str
    mass_kg: str
    category: str | None = None
    seq: int


class FactorRow(SQLModel, table=True):
    __tablename__ = "factors"
    factor_id: str = Field(primary_key=True)
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    activity: str
    stage: str
    unit: str
    kgco2e_per_unit: str
    gwp: str
    source: str
    year: int
    region: str
    seq: int


class SubmissionRow(SQLModel, table=True):
    __tablename__ = "submissions"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    supplier_id: str = Field(index=True)
    key_id: str
    count: int
    source_sha256: str | None = Field(default=None, index=True)


class RecordRow(SQLModel, table=True):
    """An emission record. ``status`` is effective, superseded or retracted.

    Keyed by ``seq`` (append order: the table grows at its end) rather than by the random
    ``record_id``, which has its own unique index; on SQLite this makes the row the B-tree
    key and saves one random-order index insert per record on import.
    """

    __tablename__ = "records"
    __table_args__ = (
        # the as-of corrections of a query look up records retired at or after a size
        Index(
            "ix_records_status_seq",
            "status_seq",
            sqlite_where=text("status_seq IS NOT NULL"),
            postgresql_where=text("status_seq IS NOT NULL"),
        ),
    )
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    record_id: str = Field(unique=True, index=True)
    submission_seq: int
    supplier_id: str
    product_id: str = Field(index=True)
    stage: str
    activity: str
    amount: str
    unit: str
    factor_id: str | None = None
    factor_version: int | None = None
    co2e_kg: str
    units_covered: str
    period_start: str
    period_end: str
    data_quality: str
    reuse_cycles: str | None = None
    supersedes: str | None = None
    allocation_group: str
    status: str = "effective"
    status_seq: int | None = None  # seq of the entry that superseded or retracted it


class RecordSumRow(SQLModel, table=True):
    """Exact sums of the effective records per group and record period (``ledger.store.sums``).

    Derived like every index table: maintained by the appender, rebuilt by ``reindex`` and
    recomputed from ``records`` by ``verify``. Sums are decimal strings (exact).
    """

    __tablename__ = "record_sums"
    supplier_id: str = Field(primary_key=True)
    product_id: str = Field(primary_key=True)
    stage: str = Field(primary_key=True)
    allocation_group: str = Field(primary_key=True)
    data_quality: str = Field(primary_key=True)
    gwp: str = Field(primary_key=True)  # the factor's GWP set; "" for a measured record
    is_tkm: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    period_start: str = Field(primary_key=True)
    period_end: str = Field(primary_key=True)
    records: int
    co2e_kg: str
    units_covered: str
    tkm: str | None = None


class OutputRow(SQLModel, table=True):
    """A declared output (the reference flow, SPEC §5). ``status`` as for records."""

    __tablename__ = "outputs"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    output_id: str = Field(unique=True, index=True)
    submission_seq: int
    product_id: str = Field(index=True)
    supplier_id: str
    units: str
    period_start: str
    period_end: str
    supersedes: str | None = None
    status: str = "effective"
    status_seq: int | None = None


class FootprintRow(SQLModel, table=True):
    """A logged footprint statement (SPEC §7), for finding the one a label rests on."""

    __tablename__ = "footprints"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    product_id: str = Field(index=True)
    window_from: str
    window_to: str
    as_of_size: int
    records_digest: str


class PcfVersionRow(SQLModel, table=True):
    """One issued PACT ProductFootprint (a publication register, not an index of entries).

    A PCF is immutable: each distinct figure for a (product, window) is one row, in issue
    order (``version`` 1, 2, ...). The latest row is Active, earlier ones are Deprecated, and a
    row's document lists the ids issued before it in ``precedingPfIds``. ``document`` keeps the
    exact JSON text
    first issued, so an unchanged figure is served with the same id and bytes later. Unlike
    the index tables this one is not rebuilt from the entries: it records what was published
    to partners, so a reindex must keep it.
    """

    __tablename__ = "pcf_versions"
    pcf_id: str = Field(primary_key=True)
    product_id: str = Field(index=True)
    period_start: str
    period_end: str
    version: int
    issued_at: str
    figures_sha256: str
    document: str
