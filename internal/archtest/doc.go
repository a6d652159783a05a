// Package archtest guards Baton's architecture: its tests check that data
// flows one way (the pure core touches no network, database or processes;
// agents and executors never reach the server's store or API) and that
// every package is documented. It has no code of its own.
package archtest
