using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>
/// Random and mutated protobuf payloads, and malformed HTTP/2 and gRPC frames, sent to a sidecar process over
/// loopback: no crash, no hang, memory bounded, every gRPC answer a proper status, and good traffic still served.
/// </summary>
public sealed class FuzzTests
{
    /// <summary>Payloads sent by the fuzz test; the seed is printed so a failure can be replayed.</summary>
    private const int Payloads = 100_000;

    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(bytes => bytes, bytes => bytes);

    /// <summary>Statuses that mean the server failed rather than answered: an unhandled exception, a hang, a dead server.</summary>
    private static readonly StatusCode[] Faults = [StatusCode.Unknown, StatusCode.DeadlineExceeded, StatusCode.Unavailable, StatusCode.Cancelled];

    [Fact]
    public async Task A_hundred_thousand_random_and_mutated_payloads_each_get_a_proper_status_and_nothing_else_is_disturbed()
    {
        using var directory = new TempDirectory();
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000),
            "--Monitor:Windows:Records=500", "--Monitor:Baselines:ReservoirRecords=10000", "--Monitor:Baselines:BootstrapWindows=1000",
            "--Logging:LogLevel:Default=Error");
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
        var traffic = new FraudTraffic(seed: 77);
        var admin = new Admin.AdminClient(channel);
        var mirror = new Mirror.MirrorClient(channel);
        (long residentBefore, _) = sidecar.ResidentBytes();

        Target[] targets = Targets(traffic);
        int seed = Environment.TickCount;
        var statuses = new ConcurrentDictionary<StatusCode, int>();
        var faults = new ConcurrentQueue<string>();
        var invoker = channel.CreateCallInvoker();
        int next = -1;
        async Task Worker(int worker)
        {
            var random = new Random(seed + worker);
            int i;
            while ((i = Interlocked.Increment(ref next)) < Payloads)
            {
                Target target = targets[random.Next(100) < 60 ? 0 : random.Next(targets.Length)];
                byte[] payload = Mutate(target.Seeds[random.Next(target.Seeds.Length)], targets, random);
                StatusCode code;
                try
                {
                    await invoker.AsyncUnaryCall(target.Method, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)), payload);
                    code = StatusCode.OK;
                }
                catch (RpcException ex)
                {
                    code = ex.StatusCode;
                    if (Faults.Contains(code) || string.IsNullOrEmpty(ex.Status.Detail))
                    {
                        faults.Enqueue($"{target.Method.FullName} {code} '{ex.Status.Detail}' payload {Convert.ToBase64String(payload)}");
                    }
                }

                statuses.AddOrUpdate(code, 1, (_, n) => n + 1);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 12).Select(w => Task.Run(() => Worker(w))));
        (long residentAfter, long peak) = sidecar.ResidentBytes();
        TestContext.Current.SendDiagnosticMessage(
            $"fuzz seed {seed}: {Payloads} payloads; statuses {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} {s.Value}"))}; " +
            $"resident {residentBefore >> 20} MiB before, {residentAfter >> 20} MiB after, peak {peak >> 20} MiB");

        Assert.False(sidecar.HasExited, "the sidecar process died");
        Assert.True(faults.IsEmpty, $"{faults.Count} answers were faults (seed {seed}); first: {faults.FirstOrDefault()}");
        Assert.Equal(Payloads, statuses.Values.Sum());
        Assert.True(statuses.GetValueOrDefault(StatusCode.InvalidArgument) > Payloads / 4, "most mutations should be named as invalid");
        Assert.True(residentAfter - residentBefore < 400L << 20, $"resident memory grew by {(residentAfter - residentBefore) >> 20} MiB");
        Assert.True(peak < 1536L << 20, $"peak resident memory {peak >> 20} MiB");

        // Nothing else was disturbed: a mirrored stream with malformed messages among good ones acks each in order...
        using AsyncDuplexStreamingCall<byte[], byte[]> stream = invoker.AsyncDuplexStreamingCall(
            new Method<byte[], byte[]>(MethodType.DuplexStreaming, "monitor.v1.Mirror", "IngestStream", Raw, Raw), null, default);
        var random = new Random(seed);
        try
        {
            for (int i = 0; i < 200; i++)
            {
                byte[] message = i % 2 == 0 ? Valid(traffic, 10).ToByteArray() : Mutate(targets[0].Seeds[0], targets, random);
                await stream.RequestStream.WriteAsync(message);
            }

            await stream.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The sidecar ended the call on a message that is not a MirrorBatch before every message was written; the
            // writes after that fail on the client. The status it ended with is read, and judged, below.
        }
        int acks = 0, accepted = 0;
        try
        {
            while (await stream.ResponseStream.MoveNext(CancellationToken.None))
            {
                acks++;
                accepted += (int)MirrorAck.Parser.ParseFrom(stream.ResponseStream.Current).Accepted;
            }
        }
        catch (RpcException ex)
        {
            // A message that is not a MirrorBatch at all ends the stream with a status; everything before it was acked.
            Assert.DoesNotContain(ex.StatusCode, Faults);
        }

        Assert.True(acks > 0 && accepted >= 10, $"{acks} acks, {accepted} records accepted on the mixed stream");

        // ...and good traffic is served as before.
        ModelVersion before = await admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(100u, (await mirror.IngestAsync(Valid(traffic, 100))).Accepted);
        ModelVersion after = await admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(before.RecordsAccepted + 100, after.RecordsAccepted);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task Malformed_http2_and_grpc_frames_get_a_status_or_a_closed_connection_and_the_sidecar_stays_up()
    {
        using var directory = new TempDirectory();
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(directory.File("monitor.db"), "--Logging:LogLevel:Default=Error");
        var random = new Random(Environment.TickCount);

        // Byte-level: garbage instead of the preface, HTTP/1.1 on the HTTP/2 port, and after a proper preface random frames,
        // oversized frames, frames on stream 0, bad HPACK. The server must end or keep each connection, never hang or fall over.
        var connections = new List<byte[]>
        {
            RandomBytes(random, 1024),
            Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n"),
        };
        for (int i = 0; i < 200; i++)
        {
            var frames = new MemoryStream();
            frames.Write(Preface);
            frames.Write(Frame(4, 0, 0, []));
            for (int f = 0; f < 1 + random.Next(6); f++)
            {
                frames.Write(random.Next(5) switch
                {
                    0 => Frame((byte)random.Next(256), (byte)random.Next(256), random.Next(4), RandomBytes(random, random.Next(64))),
                    1 => Frame(1, 4, 1 + (2 * random.Next(8)), RandomBytes(random, random.Next(48))),        // HEADERS with bad HPACK
                    2 => Frame(0, 1, 0, RandomBytes(random, 16)),                                           // DATA on stream 0
                    3 => [.. Frame(0, 0, 1, []).AsSpan(0, 3).ToArray().Select(_ => (byte)0xFF), 0, 0, 0, 0, 1], // length 16 MiB
                    _ => Frame(8, 0, 0, [0, 0, 0, 0]),                                                      // WINDOW_UPDATE of 0
                });
            }

            connections.Add(frames.ToArray());
        }

        foreach (byte[] bytes in connections)
        {
            await SendAndDrainAsync(sidecar.GrpcPort, bytes);
        }

        // gRPC framing: each answered with a grpc-status (headers or trailers), never a reset without a status or a hang.
        // (The framework answers a flag byte other than 0 or 1 with UNKNOWN; every other case gets a specific code.)
        using var http = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(20) };
        byte[] valid = Valid(new FraudTraffic(seed: 1), 5).ToByteArray();
        var cases = new (string Name, string Path, byte[] Body)[]
        {
            ("length prefix of 1 GB", "/monitor.v1.Mirror/Ingest", [0, 0x40, 0, 0, 0, 1, 2, 3, 4, 5]),
            ("compressed flag without grpc-encoding", "/monitor.v1.Mirror/Ingest", [1, .. Prefix(valid.Length), .. valid]),
            ("truncated message", "/monitor.v1.Mirror/Ingest", [0, .. Prefix(100), .. valid.AsSpan(0, 10).ToArray()]),
            ("incomplete header", "/monitor.v1.Mirror/Ingest", [0, 0, 1]),
            ("two messages on a unary call", "/monitor.v1.Mirror/Ingest", [0, .. Prefix(valid.Length), .. valid, 0, .. Prefix(valid.Length), .. valid]),
            ("flag byte 7", "/monitor.v1.Mirror/Ingest", [7, .. Prefix(valid.Length), .. valid]),
            ("empty body", "/monitor.v1.Admin/RegisterModel", []),
            ("garbage message", "/monitor.v1.Admin/RegisterModel", [0, .. Prefix(64), .. RandomBytes(random, 64)]),
            ("unknown method", "/monitor.v1.Mirror/NoSuchMethod", [0, .. Prefix(valid.Length), .. valid]),
            ("unknown service", "/no.such.Service/Call", [0, 0, 0, 0, 0]),
        };
        foreach ((string name, string path, byte[] body) in cases)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{sidecar.GrpcPort}{path}")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent(body),
            };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            request.Headers.TryAddWithoutValidation("te", "trailers");
            using HttpResponseMessage response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            string? status = response.Headers.TryGetValues("grpc-status", out var h) ? h.First()
                : response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First() : null;
            Assert.True(status is not null && int.TryParse(status, out int code) && code is > 0 and <= 16
                && (code != (int)StatusCode.Unknown || name == "flag byte 7"),
                $"{name}: HTTP {(int)response.StatusCode}, grpc-status '{status}'");
        }

        Assert.False(sidecar.HasExited, "the sidecar process died");
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task Random_and_mutated_requests_to_the_http_endpoints_get_4xx_never_5xx()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        var random = new Random(Environment.TickCount);
        string[] seeds =
        [
            """{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"model":"fraud-scorer","version":"v1"}}""",
            """{"metadata":{"model":"fraud-scorer"}}""",
        ];
        string[] junk = ["5", "true", "null", "[]", "{}", "\"x\"", "1e999", "\"\\ud800\"", "{\"a\":[[[[[]]]]]}"];
        var statuses = new Dictionary<int, int>();
        for (int i = 0; i < 2000; i++)
        {
            string body = seeds[random.Next(seeds.Length)];
            body = random.Next(4) switch
            {
                0 => body.Replace("\"fraud-scorer\"", junk[random.Next(junk.Length)], StringComparison.Ordinal),
                1 => body[..random.Next(body.Length)],
                2 => Encoding.UTF8.GetString(RandomBytes(random, random.Next(200))),
                _ => body.Replace("\"v1\"", junk[random.Next(junk.Length)], StringComparison.Ordinal),
            };
            string path = random.Next(3) switch
            {
                0 => "/api/v1/flagger/rollback",
                1 => $"/api/v1/flagger/rollback/{Uri.EscapeDataString(Encoding.UTF8.GetString(RandomBytes(random, 8)))}",
                _ => "/api/v1/flagger/rollback/fraud-scorer/v1",
            };
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using HttpResponseMessage response = await sidecar.Http.PostAsync(path, content, TestContext.Current.CancellationToken);
            statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
            Assert.True((int)response.StatusCode < 500, $"POST {path} with {body}: {(int)response.StatusCode}");

            string verdict = $"/api/v1/verdict/{Uri.EscapeDataString(Encoding.UTF8.GetString(RandomBytes(random, random.Next(1, 12))))}";
            using HttpResponseMessage read = await sidecar.Http.GetAsync(verdict, TestContext.Current.CancellationToken);
            Assert.True((int)read.StatusCode < 500, $"GET {verdict}: {(int)read.StatusCode}");
        }

        TestContext.Current.SendDiagnosticMessage($"http fuzz: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} × {s.Value}"))}");
    }

    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    private static byte[] Frame(byte type, byte flags, int stream, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), stream & int.MaxValue);
        payload.CopyTo(frame, 9);
        return frame;
    }

    private static byte[] Prefix(int length)
    {
        var prefix = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(prefix, length);
        return prefix;
    }

    /// <summary>Sends the bytes, then reads until the server closes the connection or 3 s pass.</summary>
    private static async Task SendAndDrainAsync(int port, byte[] bytes)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        try
        {
            await socket.SendAsync(bytes);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            var buffer = new byte[4096];
            while (await socket.ReceiveAsync(buffer, timeout.Token) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            // Reset by the server, or still open after 3 s: both are answers; a dead server shows in the checks after.
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private sealed record Target(Method<byte[], byte[]> Method, byte[][] Seeds);

    /// <summary>The methods fuzzed, each with valid messages that mutations start from.</summary>
    private static Target[] Targets(FraudTraffic traffic)
    {
        static Method<byte[], byte[]> Unary(string service, string name) => new(MethodType.Unary, service, name, Raw, Raw);
        return
        [
            new(Unary("monitor.v1.Mirror", "Ingest"), [.. new[] { 1, 20, 200 }.Select(n => Valid(traffic, n).ToByteArray())]),
            new(Unary("monitor.v1.Admin", "RegisterModel"), [new RegisterModelRequest
            {
                Name = "fuzzed", Schema = ProtoTranslation.ToProto(FraudTraffic.Schema),
            }.ToByteArray()]),
            new(Unary("monitor.v1.Admin", "RegisterVersion"), [new RegisterVersionRequest
            {
                Model = Sidecar.Model, Version = "v7", ArtifactSha256 = Sidecar.Digest("v7"), Source = "fuzz",
            }.ToByteArray()]),
            new(Unary("monitor.v1.Admin", "AppendBaseline"), [new AppendBaselineRequest
            {
                UploadId = "u-1", Batch = ProtoTranslation.ToProto(traffic.Next(20, FraudDrift.None)),
            }.ToByteArray()]),
            new(Unary("monitor.v1.Reports", "GetDriftReport"), [new DriftReportRequest
            {
                Model = Sidecar.Model, Version = "v1", ClosedWindows = 3, IncludeHistograms = true,
            }.ToByteArray()]),
            new(Unary("monitor.v1.Alerts", "ListAlerts"), [new ListAlertsRequest { Model = Sidecar.Model, Limit = 10 }.ToByteArray()]),
            new(Unary("monitor.v1.Rollbacks", "ListRollbackSignals"), [new ListRollbackSignalsRequest { Model = Sidecar.Model }.ToByteArray()]),
        ];
    }

    private static MirrorBatch Valid(FraudTraffic traffic, int records) => Sidecar.Batch(traffic, records);

    /// <summary>Random bytes, or a valid message with bits flipped, bytes replaced, cut, spliced, repeated or given huge varints.</summary>
    private static byte[] Mutate(byte[] seed, Target[] targets, Random random)
    {
        int kind = random.Next(10);
        if (kind == 0)
        {
            return RandomBytes(random, random.Next(2048));
        }

        byte[] bytes = (byte[])seed.Clone();
        switch (kind)
        {
            case 1 or 2:
                for (int i = 0, flips = 1 + random.Next(8); i < flips && bytes.Length > 0; i++)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }

                return bytes;
            case 3:
                for (int i = 0, n = 1 + random.Next(16); i < n && bytes.Length > 0; i++)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                return bytes;
            case 4:
                return bytes[..random.Next(bytes.Length + 1)];
            case 5:
            {
                int at = random.Next(bytes.Length + 1);
                return [.. bytes[..at], .. RandomBytes(random, 1 + random.Next(32)), .. bytes[at..]];
            }

            case 6:
            {
                byte[][] others = targets[random.Next(targets.Length)].Seeds;
                byte[] other = others[random.Next(others.Length)];
                return [.. bytes[..random.Next(bytes.Length + 1)], .. other[random.Next(other.Length + 1)..]];
            }

            case 7:
                // Concatenated messages merge: repeated fields grow, so widths stop matching.
                return [.. bytes, .. bytes];
            case 8:
            {
                // A field whose length or value is a huge varint.
                int at = random.Next(bytes.Length + 1);
                return [.. bytes[..at], (byte)((random.Next(1, 16) << 3) | random.Next(0, 3)), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, .. bytes[at..]];
            }

            default:
            {
                // Adversarial but well-formed: a MirrorBatch whose counts, offsets and values are wrong.
                MirrorBatch batch;
                try
                {
                    batch = MirrorBatch.Parser.ParseFrom(targets[0].Seeds[random.Next(targets[0].Seeds.Length)]);
                }
                catch (InvalidProtocolBufferException)
                {
                    return bytes;
                }

                switch (random.Next(6))
                {
                    case 0: batch.Batch.Records = (uint)random.Next() | (random.Next(2) == 0 ? 0x80000000u : 0); break;
                    case 1: batch.Batch.Text[0].Ends[random.Next(batch.Batch.Text[0].Ends.Count)] = uint.MaxValue - (uint)random.Next(10); break;
                    case 2: batch.Batch.Numeric[random.Next(batch.Batch.Numeric.Count)] = random.Next(2) == 0 ? float.NaN : float.NegativeInfinity; break;
                    case 3: batch.Batch.Categorical[0].Utf8 = ByteString.CopyFrom(RandomBytes(random, batch.Batch.Categorical[0].Utf8.Length)); break;
                    case 4: batch.Model = new string('m', 1 + random.Next(100_000)); break;
                    default: batch.Batch.Scores[random.Next(batch.Batch.Scores.Count)] = 1.5f + random.Next(10); break;
                }

                return batch.ToByteArray();
            }
        }
    }
}
