// Run records (mmx/train/run_records.h): the exact bytes of metrics.json / metrics.csv, the
// history stored in checkpoints, and the checks of a resume (format, epoch, history records).
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>

#include "mmx/train/checkpoint.h"
#include "mmx/train/run_records.h"

namespace mmx::train {
namespace {

struct Rec {
  int64_t epoch = 0;
  double loss = 0, ema = 0;
};

const EpochTable<Rec>& table() {
  static const EpochTable<Rec> t(&Rec::epoch, {{"loss", &Rec::loss}, {"ema", &Rec::ema, true}});
  return t;
}

std::string tmp_dir() {
  char tmpl[] = "/tmp/mmx-records-XXXXXX";
  return mkdtemp(tmpl);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(RunRecords, EpochTableMapsRecordsToRowsAndBack) {
  const std::vector<Rec> recs{{1, 0.5, std::nan("")}, {2, 0.25, 71.5}};
  const auto cols = table().columns();
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].name, "epoch");
  EXPECT_EQ(cols[0].kind, EpochColumn::Kind::kInteger);
  EXPECT_EQ(cols[2].kind, EpochColumn::Kind::kOptionalNumber);
  const auto back = table().records(table().rows(recs));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_EQ(back[1].ema, 71.5);
  EXPECT_TRUE(std::isnan(back[0].ema));
}

TEST(RunRecords, MetricsFilesHaveTheirExactFormat) {
  const std::string dir = tmp_dir();
  const RunRecords r(dir, table().columns());
  const std::vector<Rec> recs{{1, 1.0 / 3.0, std::nan("")}, {2, 0.125, 12345.678901234}};
  r.write_metrics(nlohmann::json{{"best_epoch", 2}, {"model", "x"}}, table().rows(recs));
  EXPECT_EQ(read_all(dir + "/metrics.csv"),
            "epoch,loss,ema\n"
            "1,0.3333333333,\n"
            "2,0.125,12345.6789\n");
  EXPECT_EQ(read_all(dir + "/metrics.json"),
            "{\n"
            "  \"best_epoch\": 2,\n"
            "  \"epochs\": [\n"
            "    {\n"
            "      \"ema\": null,\n"
            "      \"epoch\": 1,\n"
            "      \"loss\": 0.3333333333333333\n"
            "    },\n"
            "    {\n"
            "      \"ema\": 12345.678901234,\n"
            "      \"epoch\": 2,\n"
            "      \"loss\": 0.125\n"
            "    }\n"
            "  ],\n"
            "  \"model\": \"x\"\n"
            "}\n");
  r.write_config("a = 1\n");
  EXPECT_EQ(read_all(dir + "/config.toml"), "a = 1\n");
  EXPECT_EQ(
      r.history_json(table().rows(recs)),
      "[{\"ema\":null,\"epoch\":1,\"loss\":0.3333333333333333},{\"ema\":12345.678901234,\"epoch\":2,\"loss\":0.125}]");
  EXPECT_EQ(exact_decimal(0.1), "0.10000000000000001");
}

Checkpoint last_checkpoint(const std::string& format, const std::string& epoch, const std::string& history) {
  Checkpoint ck;
  ck.tensors["w"] = torch::zeros({2});
  ck.metadata["format"] = format;
  ck.metadata["config"] = "[train]\nlr = 0.001\n";
  ck.metadata["epoch"] = epoch;
  if (!history.empty()) ck.metadata["history"] = history;
  return ck;
}

TEST(RunRecords, ResumeReadsTheEpochAndTheHistory) {
  const std::string dir = tmp_dir();
  const RunRecords r(dir, table().columns());
  save_checkpoint(r.last_path(),
                  last_checkpoint("fmt.v1", "2", r.history_json(table().rows({{1, 0.5, 1}, {2, 0.4, 2}}))));
  const ResumePoint rp = r.resume("fmt.v1", "Model");
  EXPECT_EQ(rp.epoch, 2);
  EXPECT_EQ(rp.config_toml, "[train]\nlr = 0.001\n");
  const auto recs = table().records(rp.history);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].loss, 0.4);
  EXPECT_EQ(rp.checkpoint.tensors.count("w"), 1u);
}

TEST(RunRecords, ResumeChecksFormatEpochAndHistory) {
  const std::string dir = tmp_dir();
  const RunRecords r(dir, table().columns());
  const std::string last = r.last_path();
  EXPECT_NE(message_of([&] { r.resume("fmt.v1", "Model"); }).find("last.safetensors"), std::string::npos);
  // Each case: the checkpoint's format, epoch and history metadata, and the message after the path.
  struct Case {
    const char* format;
    const char* epoch;
    const char* history;
    const char* message;
  };
  const Case cases[] = {
      {"other.v1", "1", "[]", ": not a Model run (format 'other.v1'); resume it with the run's own config.toml"},
      {"fmt.v1", "x", "[]", ": metadata 'epoch' = \"x\" is not an integer in [0, 1000000]"},
      {"fmt.v1", "2", "{}", ": metadata 'history' is not a JSON array"},
      {"fmt.v1", "2", "[{\"epoch\":2,\"loss\":1,\"ema\":null},{\"epoch\":1,\"loss\":1,\"ema\":null}]",
       ": metadata 'history' holds epoch 1 out of order or after the checkpoint's epoch 2"},
      {"fmt.v1", "1", "[{\"epoch\":2,\"loss\":1,\"ema\":null}]",
       ": metadata 'history' holds epoch 2 out of order or after the checkpoint's epoch 1"},
      {"fmt.v1", "1", "[{\"epoch\":1,\"ema\":null}]",
       " (metadata 'history'): epoch record {\"ema\":null,\"epoch\":1} has no 'loss'"},
      {"fmt.v1", "1", "[{\"epoch\":1,\"loss\":null,\"ema\":null}]",
       " (metadata 'history'): epoch record 'loss' = null is not a finite number"},
      {"fmt.v1", "1", "[{\"epoch\":1.5,\"loss\":1,\"ema\":null}]",
       " (metadata 'history'): epoch record {\"ema\":null,\"epoch\":1.5,\"loss\":1} has no integer 'epoch'"},
      {"fmt.v1", "1", "[3]", " (metadata 'history'): an epoch record is not a JSON object: 3"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("epoch ") + c.epoch + ", history " + c.history);
    save_checkpoint(last, last_checkpoint(c.format, c.epoch, c.history));
    EXPECT_EQ(message_of([&] { r.resume("fmt.v1", "Model"); }), last + c.message);
  }
}

TEST(RunRecords, CheckpointsWithoutHistoryFallBackToMetricsJson) {
  const std::string dir = tmp_dir();
  const RunRecords r(dir, table().columns());
  r.write_metrics(nlohmann::json::object(), table().rows({{1, 0.5, 1}, {2, 0.4, 2}, {3, 0.3, 3}}));
  save_checkpoint(r.last_path(), last_checkpoint("fmt.v1", "2", ""));
  const auto recs = table().records(r.resume("fmt.v1", "Model").history);
  ASSERT_EQ(recs.size(), 2u);  // epoch 3 is after the checkpoint
  EXPECT_EQ(recs[1].epoch, 2);
}

TEST(RunRecords, ChangedSettingNotesNameEachChangedKey) {
  const auto notes = changed_setting_notes("[train]\nlr = 0.001\nepochs = 1\n[data]\nx = 1\n",
                                           "[train]\nlr = 0.0005\nepochs = 1\n[data]\nx = 2\n", {"data", "train"});
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0], "resuming with a changed setting (the new value applies): data.x: 1 -> 2");
  EXPECT_EQ(notes[1],
            "resuming with a changed setting (the new value applies): train.lr: 0.001 -> 0.00050000000000000001");
}

}  // namespace
}  // namespace mmx::train
