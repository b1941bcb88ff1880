-- The bucket ledger is append-only: a correction is a new row, never an edit. Enforced
-- here, whoever writes, because readers keep the book in memory and read only the rows
-- added since (actors/satellite_book.BookReader): an edited or deleted row would go unseen.
CREATE TRIGGER bucket_transactions_no_update BEFORE UPDATE ON bucket_transactions
BEGIN
    SELECT RAISE(ABORT, 'bucket_transactions is append-only: no update');
END;

CREATE TRIGGER bucket_transactions_no_delete BEFORE DELETE ON bucket_transactions
BEGIN
    SELECT RAISE(ABORT, 'bucket_transactions is append-only: no delete');
END;
