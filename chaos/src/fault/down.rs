//! `down`: the proxy is gone for the window.
//!
//! Its listening socket is closed (new connections are refused) and every open connection is
//! closed; when the window ends it listens on the same address again. Direction and toxicity do
//! not apply: the whole proxy is down.
