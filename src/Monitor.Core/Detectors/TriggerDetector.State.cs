namespace Monitor.Core.Detectors;

/// <summary>Checkpoints: the detectors' evidence out (<see cref="Export"/>) and back in after a restart (<see cref="Restore(DetectorState)"/>).</summary>
public sealed partial class TriggerDetector
{
    /// <summary>The detectors' evidence now, copied: safe to store from another thread.</summary>
    public DetectorState Export()
    {
        (double[] contrarian, double[] hits) = _skew.Live;
        (double[][] windows, double[] open) = _labelRate.State;
        (double[] tailRecords, double[] tailHits, double[] tailWindow) = _output?.Live ?? ([], [], []);
        (double[] rankHistograms, double[] rankRecords) = _rank?.Live ?? ([], []);
        return new DetectorState
        {
            BaselineId = _baseline.Profile.Id,
            KeySecretId = KeyHash.SecretId,
            Records = Records,
            Horizon = _candidates.HorizonRecords,
            EvictionDraws = _candidates.Draws,
            CandidatesTurnedAway = [_candidates.Load.Refused, _candidates.Load.WarnedEvicted, _turnedAwayReported, _candidates.Load.CriticalEvicted],
            WindowsSinceCriticalHit = Math.Min(_windowsSinceCriticalHit, int.MaxValue / 2),
            Raised = [.. _raised],
            UltraCusum = _ultra.Cusum,
            LiveContrarian = contrarian,
            LiveContrarianHits = hits,
            LiveTailRecords = tailRecords,
            LiveTailHits = tailHits,
            LiveTailWindow = tailWindow,
            LiveRankHistograms = rankHistograms,
            LiveRankRecords = rankRecords,
            KeysCut = [_extractor.TextCut, _extractor.ConjunctionCut, _textCutReported, _conjunctionCutReported],
            TellingRecords = [_telling, _tellingOf],
            OutsideRange = (long[])_outside.Clone(),
            OutsideRangeReported = (long[])_outsideReported.Clone(),
            LabelRateWindows = windows,
            LabelRateOpen = open,
            Candidates = _candidates.Export(),
            HeavyHitters = _candidates.ExportHeavyHitters(),
            Paired = ExportPaired(),
            EmbeddingReference = _embeddingReference.Tag,
            ConfidenceReference = _embeddingReference.ConfidenceTag(_profile),
            Directions = _directions?.Export(),
        };
    }

    /// <summary>
    /// Restores a checkpoint taken on this baseline under this process's key secret (after the findings were restored, so a
    /// candidate's raised finding is found again by its key); another checkpoint is ignored. Embedding evidence counted against
    /// another geometry than this detector's (<see cref="EmbeddingReference"/>) is left out, and so is D3's evidence counted
    /// against other confidence percentiles (<see cref="EmbeddingReference.ConfidenceTag(TriggerProfile)"/>).
    /// </summary>
    public void Restore(DetectorState state)
    {
        if (state.BaselineId != _baseline.Profile.Id || state.KeySecretId != KeyHash.SecretId)
        {
            return;
        }

        if (state.EmbeddingReference != _embeddingReference.Tag)
        {
            state = state.WithoutEmbeddingEvidence();
        }

        if (state.ConfidenceReference != _embeddingReference.ConfidenceTag(_profile))
        {
            state = state.WithoutConfidenceEvidence();
        }

        Records = state.Records;
        _windowsSinceCriticalHit = state.WindowsSinceCriticalHit;
        _raised.Clear();
        _raised.UnionWith(state.Raised);
        _ultra.Restore(state.UltraCusum);
        _skew.Restore(state.LiveContrarian, state.LiveContrarianHits);
        _output?.Restore(state.LiveTailRecords, state.LiveTailHits, state.LiveTailWindow);
        _rank?.Restore(state.LiveRankHistograms, state.LiveRankRecords);
        if (state.TellingRecords.Length == 2)
        {
            (_telling, _tellingOf) = (state.TellingRecords[0], state.TellingRecords[1]);
        }

        if (state.KeysCut.Length == 4)
        {
            _extractor.RestoreCuts(state.KeysCut[0], state.KeysCut[1]);
            (_textCutReported, _conjunctionCutReported) = (state.KeysCut[2], state.KeysCut[3]);
        }

        if (state.OutsideRange.Length == _outside.Length && state.OutsideRangeReported.Length == _outside.Length)
        {
            state.OutsideRange.CopyTo(_outside, 0);
            state.OutsideRangeReported.CopyTo(_outsideReported, 0);
        }
        _labelRate.Restore(state.LabelRateWindows, state.LabelRateOpen);
        Dictionary<string, Finding> findings = _findings.All.ToDictionary(f => f.DedupeKey, StringComparer.Ordinal);
        _candidates.Restore(state.Horizon, state.EvictionDraws, state.Candidates, state.HeavyHitters, key => findings.GetValueOrDefault(key),
            state.TurnedAway);
        _turnedAwayReported = state.CandidatesTurnedAway.Length >= 3 ? state.CandidatesTurnedAway[2] : 0;
        RestorePaired(state.Paired, key => findings.GetValueOrDefault(key));
        if (state.Directions is { } directions)
        {
            _directions?.Restore(directions);
        }
    }
}
