-- A script library read over SSH: ssh_key is its private key, a
-- ciphertext (internal/secret, bound to the library's ID and repository
-- URL, like token), '' for none; ssh_public_key its public key as an
-- authorized_keys line, to show; known_hosts the host keys its server must
-- show (known_hosts lines), given by an admin or read when the key was set.
ALTER TABLE libraries ADD COLUMN ssh_key TEXT NOT NULL DEFAULT '';
ALTER TABLE libraries ADD COLUMN ssh_public_key TEXT NOT NULL DEFAULT '';
ALTER TABLE libraries ADD COLUMN known_hosts TEXT NOT NULL DEFAULT '';
