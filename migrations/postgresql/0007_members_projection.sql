-- depends: 0006_registrations_index
-- The member balances, lots and statement are one projection, `members`, since member
-- events record the balance after them and the points taken from pending lots
-- (projections.definitions.Members). It keeps the same tables and rows; only its tracking
-- is one row instead of three. The three stood at one position (one projection group moves
-- all its names together), which the new row takes over.

INSERT INTO projection_tracking (name, position, updated_at)
    SELECT 'members', MIN(position), MAX(updated_at) FROM projection_tracking
    WHERE name IN ('member_balances', 'member_lots', 'member_statement')
    HAVING COUNT(*) > 0
    ON CONFLICT (name) DO NOTHING;
DELETE FROM projection_tracking
    WHERE name IN ('member_balances', 'member_lots', 'member_statement');
