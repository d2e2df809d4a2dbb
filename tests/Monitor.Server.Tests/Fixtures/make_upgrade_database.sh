#!/usr/bin/env bash
# Makes upgrade-3c193af.db: a database written by the sidecar of commit 3c193af (schema version 2, the last
# before the persistence restructure), for StoreMigrationTests. Usage:
#   make_upgrade_database.sh SERVER_DIR OUT.db
# SERVER_DIR holds a build of that commit's server (git worktree add --detach /tmp/prev 3c193af50f5a8ab6a6156ee322a759f9bdb6d655;
# dotnet build /tmp/prev/src/Monitor.Server -c Release -o SERVER_DIR). The protos and the reference records are read from
# this checkout (protos/ is unchanged since that commit; Fixtures/fraud_reference.csv). Needs dotnet and curl.
set -euo pipefail
server_dir=$(realpath "$1")
out=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; cat "$work"/server-*.log >&2 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A throwaway gRPC client of the protos, with the steps below.
mkdir "$work/client"
cat > "$work/client/client.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable><ImplicitUsings>enable</ImplicitUsings></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Grpc.Net.Client" Version="2.85.0" />
    <PackageReference Include="Google.Protobuf" Version="3.36.2" />
    <PackageReference Include="Grpc.Tools" Version="2.85.0" PrivateAssets="all" />
    <Protobuf Include="$repo/protos/monitor/v1/*.proto" ProtoRoot="$repo/protos" GrpcServices="Client" />
  </ItemGroup>
</Project>
EOF
cat > "$work/client/Program.cs" <<'EOF'
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Grpc.Net.Client;
using Monitor.Protos.V1;

// args: step address schema.json reference.csv
string step = args[0];
using GrpcChannel channel = GrpcChannel.ForAddress(args[1]);
var admin = new Admin.AdminClient(channel);
var mirror = new Mirror.MirrorClient(channel);
var rollbacks = new Rollbacks.RollbacksClient(channel);
const string model = "fraud-scorer";
List<string[]> rows = ReadCsv(args[3]);

if (step == "first")
{
    ModelSchema schema = JsonParser.Default.Parse<ModelSchema>(File.ReadAllText(args[2]));
    await admin.RegisterModelAsync(new RegisterModelRequest { Name = model, Schema = schema, Description = "upgrade fixture" });
    await admin.RegisterVersionAsync(new() { Model = model, Version = "v1", ArtifactSha256 = Digest("fraud-scorer v1"), Source = "fixture",
        InitialState = VersionState.KnownGood });
    await admin.RegisterVersionAsync(new() { Model = model, Version = "v2", ArtifactSha256 = Digest("v2"), Source = "fixture" });
    await admin.RegisterVersionAsync(new() { Model = model, Version = "v3", ArtifactSha256 = Digest("v3"), Source = "fixture" });

    BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = model, Description = "fraud reference" });
    await admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = Batch(rows) });
    Baseline baseline = await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
    Console.WriteLine($"baseline {baseline.Summary}");

    // Two whole windows of v1 (Monitor:Windows:Records=200), then a batch of v3 from an unregistered artifact:
    // the policy quarantines v3 and signals a rollback to v1.
    await Ingest("v1", Digest("fraud-scorer v1"), rows.Take(400).ToList());
    await Ingest("v3", Digest("not v3"), rows.Take(50).ToList());
    await Task.Delay(2000);

    // An admin rolls v2 back, and acknowledges the policy's signal.
    RollBackVersionResponse rolled = await admin.RollBackVersionAsync(new RollBackVersionRequest
    {
        Model = model, Version = "v2", Actor = "fixture-admin", Reason = "canary errors",
    });
    Console.WriteLine($"admin rollback signal {rolled.SignalSequence} to {rolled.ToVersion}");
    ListRollbackSignalsResponse signals = await rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest { Model = model });
    RollbackSignal policy = signals.Signals.First(s => s.Actor == "policy");
    await rollbacks.AcknowledgeRollbackSignalAsync(new AcknowledgeRollbackSignalRequest
    {
        Sequence = policy.Sequence, Actor = "fixture-admin", Reason = "rolled out v1 again",
    });
}
else
{
    // Started with Monitor:Versions:HoldRollbacks=true: the rollback of v4 is held for a human.
    await admin.RegisterVersionAsync(new() { Model = model, Version = "v4", ArtifactSha256 = Digest("v4"), Source = "fixture" });
    await Ingest("v4", Digest("not v4"), rows.Take(50).ToList());
    await Task.Delay(2000);
}

foreach (RollbackSignal signal in (await rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest { Model = model })).Signals)
{
    Console.WriteLine($"signal {signal}");
}

foreach (HeldRollback held in (await rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest { Model = model })).Rollbacks)
{
    Console.WriteLine($"held {held}");
}

async Task Ingest(string version, string digest, List<string[]> records)
{
    for (int i = 0; i < records.Count; i += 200)
    {
        MirrorAck ack = await mirror.IngestAsync(new MirrorBatch
        {
            Model = model, Version = version, ArtifactSha256 = digest, Batch = Batch(records.Skip(i).Take(200).ToList()),
        });
        Console.WriteLine($"ingest {version}: {ack}");
    }
}

static string Digest(string artifact) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(artifact)));

// Columns: 6 numeric, 3 categorical, memo, score.legitimate, score.fraud, request_id.
static RecordBatch Batch(List<string[]> rows)
{
    var batch = new RecordBatch { Records = (uint)rows.Count };
    foreach (string[] row in rows)
    {
        for (int c = 0; c < 6; c++)
        {
            batch.Numeric.Add(row[c].Length == 0 ? float.NaN : float.Parse(row[c], System.Globalization.CultureInfo.InvariantCulture));
        }

        batch.Scores.Add(float.Parse(row[10], System.Globalization.CultureInfo.InvariantCulture));
        batch.Scores.Add(float.Parse(row[11], System.Globalization.CultureInfo.InvariantCulture));
    }

    for (int c = 6; c < 9; c++)
    {
        batch.Categorical.Add(Column(rows.Select(r => r[c])));
    }

    batch.Text.Add(Column(rows.Select(r => r[9])));
    batch.RequestIds = Column(rows.Select(r => r[12]));
    return batch;
}

static StringColumn Column(IEnumerable<string> values)
{
    var column = new StringColumn();
    var bytes = new List<byte>();
    foreach (string value in values)
    {
        bytes.AddRange(Encoding.UTF8.GetBytes(value));
        column.Ends.Add((uint)bytes.Count);
    }

    column.Utf8 = ByteString.CopyFrom(bytes.ToArray());
    return column;
}

static List<string[]> ReadCsv(string path)
{
    // RFC 4180: quoted fields may hold commas, doubled quotes and line breaks.
    string text = File.ReadAllText(path);
    var rows = new List<string[]>();
    var fields = new List<string>();
    var field = new StringBuilder();
    bool quoted = false;
    for (int i = 0; i < text.Length; i++)
    {
        char c = text[i];
        if (quoted && c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
        else if (c == '"') { quoted = !quoted; }
        else if (c == ',' && !quoted) { fields.Add(field.ToString()); field.Clear(); }
        else if (c == '\n' && !quoted) { fields.Add(field.ToString()); field.Clear(); rows.Add([.. fields]); fields.Clear(); }
        else if (c != '\r' || quoted) { field.Append(c); }
    }

    return rows.Skip(1).ToList();
}
EOF
dotnet build "$work/client" -c Release -o "$work/client/bin" -nologo -v q

run() {  # run STEP [server settings...]
    local step=$1; shift
    local grpc http
    grpc=$(free_port); http=$(free_port)
    # No keys: the sidecar listens on loopback only. Small windows and a small reservoir keep the file small. The
    # webhook "ops" points at a port nothing listens on, so the alerts and signals stay pending in the outbox.
    "$server_dir/Monitor.Server" serve --Monitor:Grpc:Port="$grpc" --Monitor:Http:Port="$http" \
        --Monitor:Database:Path="$out" --Monitor:Windows:Records=200 --Monitor:Baselines:ReservoirRecords=1300 \
        --Monitor:Baselines:MinProfileRecords=500 --Monitor:Baselines:BootstrapWindows=1000 \
        --Monitor:Delivery:Webhooks:0:Name=ops --Monitor:Delivery:Webhooks:0:Url="http://127.0.0.1:$dead/hook" \
        --Monitor:Delivery:Webhooks:0:Secret=0123456789abcdef0123 --Monitor:Delivery:MaxBackoff=01:00:00 \
        "$@" > "$work/server-$step.log" 2>&1 &
    pid=$!
    for _ in $(seq 60); do curl -sf "http://127.0.0.1:$http/healthz" > /dev/null && break; sleep 0.5; done
    dotnet "$work/client/bin/client.dll" "$step" "http://127.0.0.1:$grpc" "$repo/deploy/examples/fraud-scorer.schema.json" \
        "$here/fraud_reference.csv"
    kill -TERM "$pid"; wait "$pid" || true; pid=
}

rm -f "$out" "$out-wal" "$out-shm"
dead=$(free_port)
run first
run second --Monitor:Versions:HoldRollbacks=true
ls -l "$out"*
