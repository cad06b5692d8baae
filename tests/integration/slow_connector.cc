// A connector type registered only in the integration test binary: the real `file`
// connector behind a fixed delay on FetchOpportunity, standing in for a slow CRM so
// deadline handling can be tested without timing games on a real network.
//   connector: {type: slow_file, slow_file: {delay: 2s, file: {path: ...}}}
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connectors/registry.h"

namespace dealcoach::testing {
namespace {

class SlowConnector : public connectors::Connector {
 public:
  SlowConnector(std::unique_ptr<connectors::Connector> inner, absl::Duration delay)
      : inner_(std::move(inner)), delay_(delay) {}
  absl::string_view type() const override { return "slow_file"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override {
    absl::SleepFor(delay_);
    return inner_->FetchOpportunity(id, absl::InfiniteFuture());
  }
  absl::StatusOr<connectors::SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    return inner_->SyncChangedSince(since, sink);
  }
  connectors::ConnectorHealth Health() const override { return inner_->Health(); }

 private:
  std::unique_ptr<connectors::Connector> inner_;
  absl::Duration delay_;
};

class SlowConnectorFactory : public connectors::ConnectorFactory {
 public:
  absl::string_view type() const override { return "slow_file"; }
  absl::StatusOr<std::unique_ptr<connectors::Connector>> Create(
      const YAML::Node& config, const connectors::ConnectorContext& context) const override {
    absl::Duration delay = absl::Seconds(2);
    if (config["delay"] && !absl::ParseDuration(config["delay"].Scalar(), &delay)) {
      return absl::InvalidArgumentError("slow_file.delay: not a duration");
    }
    auto file = connectors::FindConnectorFactory("file");
    if (!file.ok()) return file.status();
    auto inner = (*file)->Create(config["file"], context);
    if (!inner.ok()) return inner.status();
    return std::make_unique<SlowConnector>(*std::move(inner), delay);
  }
};

DEALCOACH_REGISTER_CONNECTOR(SlowConnectorFactory);

}  // namespace
}  // namespace dealcoach::testing
