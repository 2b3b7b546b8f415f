DROP TABLE IF EXISTS observation_fingerprints;
DROP TABLE IF EXISTS observation;
DROP TABLE IF EXISTS visit;
DROP TABLE IF EXISTS connection_fingerprints;
DROP TABLE IF EXISTS connection;
