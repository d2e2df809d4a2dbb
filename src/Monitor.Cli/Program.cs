using Monitor.Cli;

return await DriftCli.RunAsync(args, Console.Out, Console.Error, interactive: !Console.IsErrorRedirected);
