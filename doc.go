// Package combine holds The Combine's domain: the types, service interfaces,
// error codes and context helpers that every other package builds on. It
// imports nothing of the project, so the arrows of dependency point inward:
// storage, HTTP, identity providers and the execution runner depend on it,
// never the other way round.
package combine
