-- The run without its transfer file: the file carries whole account numbers, which only the operator's
-- `settlement pay` writes out; nothing the engine builds or readers see holds them.
select
    id as run_id,
    month,
    started_at,
    run_by,
    transfers,
    total,
    file_name
from {{ source('platform', 'payment_runs') }}
