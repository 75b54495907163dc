-- Installs pgqrs and a helper that shows an error's SQLSTATE and message.
\set VERBOSITY terse
CREATE EXTENSION pgqrs;
SELECT pgqrs.version() = extversion AS version_matches
FROM pg_extension WHERE extname = 'pgqrs';
SELECT pgqrs.max_batch_size();

-- error_of(statement): 'SQLSTATE: message' of the error the statement raises,
-- or 'no error'. Keeps expected output free of server line numbers.
CREATE FUNCTION error_of(p_statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE p_statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
