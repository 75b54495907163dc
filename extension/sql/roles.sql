-- The group roles and the grants, declared in grants.sql (an upgrade script
-- makes its own call, at its end).
SELECT @extschema@._setup_roles();
