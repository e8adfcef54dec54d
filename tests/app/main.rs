//! End-to-end tests of the operator binary's system in the embedded mode, in one test binary:
//! every test links tract, SQLite and the web app, so one link step instead of one per file.

mod common;
mod desk;
#[path = "../browser/run.rs"]
mod journeys;
#[path = "../scenarios/src/serve.rs"]
mod serve;

mod atomicity;
mod aws_operator;
mod browser;
mod client_e2e;
mod config;
mod crash;
mod decision_race;
mod embedding;
mod indexer;
mod intake;
mod properties;
mod review;
