// AdminService (proto/dealcoach/v1/admin_service.proto): the operator's one-call status
// of a running sidecar: the CRM source (connector health, last sync, last error, cached
// count, reconcile) and every playbook file's reload outcome.
//
// Thread safety: safe for concurrent calls; reads only thread-safe parts (the source's
// Status() and the snapshot holder).
#ifndef DEALCOACH_SIDECAR_SERVER_ADMIN_SERVICE_H_
#define DEALCOACH_SIDECAR_SERVER_ADMIN_SERVICE_H_

#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach::server {

// Fills `response` from the source and the current snapshot (either may be null).
void FillStatus(const source::OpportunitySource* source, const runtime::SnapshotHolder* playbooks,
                v1::GetStatusResponse* response);

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  AdminServiceImpl(const source::OpportunitySource* source,
                   const runtime::SnapshotHolder* playbooks)
      : source_(source), playbooks_(playbooks) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  const source::OpportunitySource* const source_;
  const runtime::SnapshotHolder* const playbooks_;
};

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_ADMIN_SERVICE_H_
