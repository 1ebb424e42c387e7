package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "0.1.0-dev"

// exitCode is an error that asks for a specific exit status.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

const usage = `errand runs AI web tasks and reports back by webhook.

Usage:
  errand serve [flags]              run the server
  errand keys create --name NAME    create an API key (printed once)
  errand run --url URL [flags] "instruction"
                                    run one task in-process and print its steps and result
  errand listen [--addr A] [--secret whsec_…] [--forward URL]
                                    a local webhook receiver that prints deliveries
  errand bench [flags]              measure deliveries/s and latencies on this machine
  errand version                    print the version

Run "errand serve -h" for the server's flags.
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
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, "usage: errand keys create --name NAME [--data DIR]\n")
			return exitCode(2)
		}
		return keysCreate(ctx, args[2:], getenv, stdout, stderr)
	case "run":
		return runOnce(ctx, args[1:], getenv, stdout, stderr)
	case "listen":
		return listen(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "errand", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "errand: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}

// parseFlags parses fs, treating -h as success after printing help.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitCode(2)
	}
	return nil
}

var errHelp = errors.New("help shown")
