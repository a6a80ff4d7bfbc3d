-- tokenledger 0.1.0 -> 0.2.0. Every change here is mirrored in install/, so
-- that an upgraded database matches a fresh install (test/release_check.sh).
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.2.0'" to load this file. \quit
