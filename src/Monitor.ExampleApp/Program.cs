using Monitor.ExampleApp;

await using WebApplication app = ExampleApp.Build(args);
await app.RunAsync();
