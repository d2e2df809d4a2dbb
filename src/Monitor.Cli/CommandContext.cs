using System.CommandLine;
using Grpc.Core;
using Monitor.Cli.Sidecar;

namespace Monitor.Cli;

/// <summary>What every command's action needs: the terminal, and a way to reach the sidecar; turns failures into messages.</summary>
internal sealed class CommandContext(Terminal.Console terminal, ConnectionOptions connection)
{
    public Terminal.Console Terminal => terminal;

    /// <summary>
    /// Sets <paramref name="command"/>'s action: open a connection, run, and turn a refused call, a bad input or a
    /// cancellation into one line on standard error and an exit code.
    /// </summary>
    public void SetAction(Command command, Func<ParseResult, SidecarConnection, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parsed, cancellationToken) =>
        {
            SidecarConnection? sidecar = null;
            try
            {
                sidecar = connection.Open(parsed);
                return await action(parsed, sidecar, cancellationToken);
            }
            catch (RpcException e) when (sidecar is not null)
            {
                return terminal.Fail(sidecar.Explain(e));
            }
            catch (CliException e)
            {
                return terminal.Fail(e);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return terminal.Fail(new CliException("cancelled"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return terminal.Fail(new CliException(e.Message));
            }
            catch (Exception e)
            {
                // A file this tool cannot decode, or a defect: one line, not a stack trace; the exit code says it failed.
                return terminal.Fail(new CliException($"{e.GetType().Name}: {e.Message}"));
            }
            finally
            {
                sidecar?.Dispose();
            }
        });
}
