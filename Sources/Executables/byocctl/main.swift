// byocctl: the BYOC Inference Platform's admin CLI. Entry point: parse, run, and turn every
// failure into one line on stderr and an exit status (0 ok, 1 call failed, 2 usage).
import ArgumentParser
import Foundation

await CLIMain.run(CommandLine.arguments.dropFirst().map { $0 })
