"""Payments: from closed days to money in sellers' accounts (issue 26, SPEC.md "Payments").

What is issued or paid is recorded here, by the CLI (`settlement statements`, `settlement pay`, `settlement
hold`) and the API (a seller's payout account and business registration), each in one transaction; the dbt
project reads these tables through staging views and computes what readers see (models/payments/).
Every table is insert-only: a trigger refuses UPDATE and DELETE, so an issued statement, a payment, a
return, an account as registered and a hold never change (TRUNCATE, for tests, is not refused).

- seller_tax_registrations: a seller's business number (none: an individual), newest row in force.
- payout_accounts: the account a seller is paid to (holder, bank code, account number), newest in force;
  every change is a new row, so the history is the table.
- payment_holds: an operator puts a seller on hold (HOLD, with a reason) or takes it off (RELEASE).
- payment_months: a month whose statements were issued; months are issued in order.
- stated_days: which closed days each month's statements took (their payouts, and the adjustments booked
  on them): a closed day lands on exactly one month's statements (the primary key).
- payment_statements: one per seller and issued month, numbered per seller from 1 without gaps (the
  foreign key from (seller_id, number - 1) to (seller_id, number)); the figures hold together (CHECKs).
- payment_runs: a payment run, with the bank-transfer file it wrote (kept whole, so a file lost after
  the run committed is written again from here, never paid again).
- payments: a statement paid, once (unique statement_id), to the account it was paid to.
- payment_returns: a payment the bank returned, once (unique payment_id); its amount goes back to the
  seller's balance and onto the next statement issued (statement_returns, once: the primary key).

Revision ID: 0060
"""

from alembic import op

revision = "0060"
down_revision = "0041"
branch_labels = None
depends_on = None

TABLES = (
    "statement_returns", "payment_returns", "payments", "payment_runs", "payment_statements", "stated_days",
    "payment_months", "payment_holds", "payout_accounts", "seller_tax_registrations",
)  # fmt: skip


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION refuse_changing_payment_records() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            RAISE EXCEPTION '% is insert-only: an issued or paid record never changes (%)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END
        $fn$;

        CREATE TABLE seller_tax_registrations (
            id               bigint GENERATED ALWAYS AS IDENTITY,
            seller_id        bigint NOT NULL,
            business_number  text,
            registered_at    timestamptz NOT NULL DEFAULT settlement_now(),
            registered_by    text NOT NULL,
            CONSTRAINT pk_seller_tax_registrations PRIMARY KEY (id),
            CONSTRAINT fk_seller_tax_registrations_seller_id_users FOREIGN KEY (seller_id) REFERENCES users (id),
            CONSTRAINT ck_seller_tax_registrations_business_number CHECK (business_number ~ '^[0-9]{3}-[0-9]{2}-[0-9]{5}$')
        );
        CREATE INDEX ix_seller_tax_registrations_seller_id ON seller_tax_registrations (seller_id, id);

        CREATE TABLE payout_accounts (
            id              bigint GENERATED ALWAYS AS IDENTITY,
            seller_id       bigint NOT NULL,
            holder          text NOT NULL,
            bank_code       text NOT NULL,
            account_number  text NOT NULL,
            registered_at   timestamptz NOT NULL DEFAULT settlement_now(),
            registered_by   text NOT NULL,
            CONSTRAINT pk_payout_accounts PRIMARY KEY (id),
            CONSTRAINT fk_payout_accounts_seller_id_users FOREIGN KEY (seller_id) REFERENCES users (id),
            CONSTRAINT ck_payout_accounts_holder CHECK (length(holder) BETWEEN 1 AND 60 AND holder !~ '[[:cntrl:]]'),
            CONSTRAINT ck_payout_accounts_bank_code CHECK (bank_code ~ '^[0-9]{3}$'),
            CONSTRAINT ck_payout_accounts_account_number CHECK (account_number ~ '^[0-9]{6,20}$')
        );
        CREATE INDEX ix_payout_accounts_seller_id ON payout_accounts (seller_id, id);

        CREATE TABLE payment_holds (
            id         bigint GENERATED ALWAYS AS IDENTITY,
            seller_id  bigint NOT NULL,
            action     text NOT NULL,
            reason     text NOT NULL,
            at         timestamptz NOT NULL DEFAULT settlement_now(),
            by         text NOT NULL DEFAULT current_user,
            CONSTRAINT pk_payment_holds PRIMARY KEY (id),
            CONSTRAINT fk_payment_holds_seller_id_users FOREIGN KEY (seller_id) REFERENCES users (id),
            CONSTRAINT ck_payment_holds_action CHECK (action IN ('HOLD', 'RELEASE')),
            CONSTRAINT ck_payment_holds_reason CHECK (length(reason) BETWEEN 1 AND 500)
        );
        CREATE INDEX ix_payment_holds_seller_id ON payment_holds (seller_id, id);

        CREATE TABLE payment_months (
            month       date NOT NULL,
            issued_at   timestamptz NOT NULL DEFAULT settlement_now(),
            issued_by   text NOT NULL DEFAULT current_user,
            statements  integer NOT NULL,
            CONSTRAINT pk_payment_months PRIMARY KEY (month),
            CONSTRAINT ck_payment_months_first_day CHECK (extract(day FROM month) = 1)
        );

        CREATE TABLE stated_days (
            day    date NOT NULL,
            month  date NOT NULL,
            CONSTRAINT pk_stated_days PRIMARY KEY (day),
            CONSTRAINT fk_stated_days_day_closed_days FOREIGN KEY (day) REFERENCES closed_days (day),
            CONSTRAINT fk_stated_days_month_payment_months FOREIGN KEY (month) REFERENCES payment_months (month),
            CONSTRAINT ck_stated_days_not_after_month CHECK (day < month + interval '1 month')
        );

        CREATE TABLE payment_statements (
            id                     bigint GENERATED ALWAYS AS IDENTITY,
            seller_id              bigint NOT NULL,
            number                 integer NOT NULL,
            previous_number        integer GENERATED ALWAYS AS (nullif(number - 1, 0)) STORED,
            month                  date NOT NULL,
            carried_in             numeric NOT NULL,
            returned_in            numeric NOT NULL,
            payouts                numeric NOT NULL,
            adjustments            numeric NOT NULL,
            gross                  numeric NOT NULL,
            income_tax             numeric NOT NULL,
            local_income_tax       numeric NOT NULL,
            withholding            numeric NOT NULL,
            net                    numeric NOT NULL,
            payable                boolean NOT NULL,
            amount_payable         numeric NOT NULL,
            carried_out            numeric NOT NULL,
            carry_reason           text,
            seller_kind            text NOT NULL,
            business_number        text,
            income_tax_rate        numeric NOT NULL,
            local_income_tax_rate  numeric NOT NULL,
            income_tax_unit        numeric NOT NULL,
            local_income_tax_unit  numeric NOT NULL,
            threshold              numeric NOT NULL,
            payout_account_id      bigint,
            issued_at              timestamptz NOT NULL DEFAULT settlement_now(),
            CONSTRAINT pk_payment_statements PRIMARY KEY (id),
            CONSTRAINT uq_payment_statements_seller_id_number UNIQUE (seller_id, number),
            CONSTRAINT uq_payment_statements_seller_id_month UNIQUE (seller_id, month),
            CONSTRAINT fk_payment_statements_seller_id_users FOREIGN KEY (seller_id) REFERENCES users (id),
            CONSTRAINT fk_payment_statements_month_payment_months FOREIGN KEY (month) REFERENCES payment_months (month),
            CONSTRAINT fk_payment_statements_previous FOREIGN KEY (seller_id, previous_number)
                REFERENCES payment_statements (seller_id, number),
            CONSTRAINT fk_payment_statements_payout_account_id FOREIGN KEY (payout_account_id) REFERENCES payout_accounts (id),
            CONSTRAINT ck_payment_statements_number CHECK (number >= 1),
            CONSTRAINT ck_payment_statements_kind CHECK (seller_kind IN ('individual', 'business')),
            CONSTRAINT ck_payment_statements_gross CHECK (gross = payouts + adjustments),
            CONSTRAINT ck_payment_statements_withholding CHECK (
                withholding = income_tax + local_income_tax AND income_tax >= 0 AND local_income_tax >= 0),
            CONSTRAINT ck_payment_statements_net CHECK (net = carried_in + returned_in + gross - withholding),
            CONSTRAINT ck_payment_statements_payable CHECK (
                (payable AND amount_payable = net AND carried_out = 0 AND net >= threshold AND net > 0)
                OR (NOT payable AND amount_payable = 0 AND carried_out = net)),
            CONSTRAINT ck_payment_statements_reason CHECK (payable = (carry_reason IS NULL))
        );
        CREATE INDEX ix_payment_statements_month ON payment_statements (month);

        CREATE TABLE payment_runs (
            id             bigint GENERATED ALWAYS AS IDENTITY,
            month          date NOT NULL,
            started_at     timestamptz NOT NULL DEFAULT settlement_now(),
            run_by         text NOT NULL DEFAULT current_user,
            transfers      integer NOT NULL,
            total          numeric NOT NULL,
            file_name      text NOT NULL,
            transfer_file  text NOT NULL,
            CONSTRAINT pk_payment_runs PRIMARY KEY (id),
            CONSTRAINT fk_payment_runs_month_payment_months FOREIGN KEY (month) REFERENCES payment_months (month),
            CONSTRAINT ck_payment_runs_transfers CHECK (transfers > 0 AND total > 0)
        );

        CREATE TABLE payments (
            id                 bigint GENERATED ALWAYS AS IDENTITY,
            statement_id       bigint NOT NULL,
            run_id             bigint NOT NULL,
            seller_id          bigint NOT NULL,
            amount             numeric NOT NULL,
            payout_account_id  bigint NOT NULL,
            paid_at            timestamptz NOT NULL DEFAULT settlement_now(),
            CONSTRAINT pk_payments PRIMARY KEY (id),
            CONSTRAINT uq_payments_statement_id UNIQUE (statement_id),
            CONSTRAINT fk_payments_statement_id_payment_statements FOREIGN KEY (statement_id) REFERENCES payment_statements (id),
            -- a run's payments are recorded one by one, its record (with the file's content) last: together
            CONSTRAINT fk_payments_run_id_payment_runs FOREIGN KEY (run_id) REFERENCES payment_runs (id)
                DEFERRABLE INITIALLY DEFERRED,
            CONSTRAINT fk_payments_payout_account_id FOREIGN KEY (payout_account_id) REFERENCES payout_accounts (id),
            CONSTRAINT ck_payments_amount CHECK (amount > 0 AND amount = trunc(amount))
        );
        CREATE INDEX ix_payments_seller_id ON payments (seller_id);

        CREATE TABLE payment_returns (
            id           bigint GENERATED ALWAYS AS IDENTITY,
            payment_id   bigint NOT NULL,
            seller_id    bigint NOT NULL,
            amount       numeric NOT NULL,
            reason       text NOT NULL,
            returned_at  timestamptz NOT NULL DEFAULT settlement_now(),
            returned_by  text NOT NULL DEFAULT current_user,
            CONSTRAINT pk_payment_returns PRIMARY KEY (id),
            CONSTRAINT uq_payment_returns_payment_id UNIQUE (payment_id),
            CONSTRAINT fk_payment_returns_payment_id_payments FOREIGN KEY (payment_id) REFERENCES payments (id),
            CONSTRAINT ck_payment_returns_reason CHECK (length(reason) BETWEEN 1 AND 500)
        );
        CREATE INDEX ix_payment_returns_seller_id ON payment_returns (seller_id);

        CREATE TABLE statement_returns (
            return_id     bigint NOT NULL,
            statement_id  bigint NOT NULL,
            CONSTRAINT pk_statement_returns PRIMARY KEY (return_id),
            CONSTRAINT fk_statement_returns_return_id FOREIGN KEY (return_id) REFERENCES payment_returns (id),
            CONSTRAINT fk_statement_returns_statement_id FOREIGN KEY (statement_id) REFERENCES payment_statements (id)
        );
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER tr_{table}_insert_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_changing_payment_records()"
        )


def downgrade() -> None:
    op.execute(f"DROP TABLE {', '.join(TABLES)}")
    op.execute("DROP FUNCTION refuse_changing_payment_records()")
