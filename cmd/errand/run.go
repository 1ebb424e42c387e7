package main

import (
	"context"
	"fmt"
	"io"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "0.1.0-dev"

// exitCode is an error that asks for a specific exit status.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

const usage = `errand runs AI web tasks and reports back by webhook.

Usage:
  errand serve [flags]              run the server
  errand run [flags] "instruction"  run one task in-process and print its steps and result
  errand keys create --name NAME    create an API key (printed once)
  errand listen [flags]             a local webhook receiver that prints deliveries
  errand mcp [flags]                errand's MCP tools over stdio, for an assistant or IDE
  errand version                    print the version

Run "errand <command> --help" for a command's flags and the environment
variables it reads. errand-bench (go run ./cmd/errand-bench) measures this
machine; docs/API.md describes the API.
`

// run is the whole program: main only calls it with the OS, so tests run
// the real thing in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		return keysCommand(ctx, args[1:], getenv, stdout, stderr)
	case "run":
		return runOnce(ctx, args[1:], getenv, stdout, stderr)
	case "listen":
		return listen(ctx, args[1:], stdout, stderr)
	case "mcp":
		return mcpStdio(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "version", "--version", "-v":
		c := newCommand("version", "", "Print errand's version.", getenv)
		if err := c.parse(args[1:], stdout, stderr); err != nil {
			return helpOrErr(err)
		}
		fmt.Fprintln(stdout, "errand", version)
		return nil
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] != "help" && args[1][0] != '-' {
			// errand help serve: the command's own help.
			return run(ctx, []string{args[1], "--help"}, getenv, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "errand: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}

const keysUsage = `Usage: errand keys create --name NAME [flags]

Manage API keys. Run "errand keys create --help" for its flags.
`

// keysCommand is errand keys: its one subcommand is create.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "create":
		return keysCreate(ctx, args[1:], getenv, stdout, stderr)
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return exitCode(2)
}
