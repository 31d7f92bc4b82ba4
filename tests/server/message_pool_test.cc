#include "server/message_pool.h"

#include <string>

#include "gtest/gtest.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;
using Pool = MessagePool<v1::PoolRequest, v1::PoolResponse>;

// Keeps the request's input (as a test stand-in for whatever a real
// recycler keeps) and counts its capacity.
uint64_t Capacity(v1::PoolRequest* request, v1::PoolResponse* response) {
  v1::Tensor* input = request->release_input();
  request->Clear();
  response->Clear();
  if (input == nullptr) return 0;
  input->Clear();
  request->set_allocated_input(input);
  return input->data().capacity();
}

TEST(MessagePool, ReusesAReleasedPairWithItsBufferCapacity) {
  RetentionBudget budget(uint64_t{1} << 30);
  Pool pool(Capacity, &budget);
  grpc::MessageHolder<v1::PoolRequest, v1::PoolResponse>* first =
      pool.AllocateMessages();
  first->request()->mutable_input()->set_data(std::string(1 << 20, 'x'));
  v1::PoolRequest* request = first->request();
  first->Release();
  EXPECT_GE(budget.held(), 1u << 20);

  grpc::MessageHolder<v1::PoolRequest, v1::PoolResponse>* second =
      pool.AllocateMessages();
  EXPECT_EQ(second->request(), request);
  // Cleared, but the bytes keep their capacity for the next large tensor.
  EXPECT_TRUE(second->request()->input().data().empty());
  EXPECT_GE(second->request()->mutable_input()->mutable_data()->capacity(),
            1u << 20);
  EXPECT_EQ(budget.held(), 0u);
  second->Release();
}

TEST(MessagePool, FreesPairsThatWouldExceedTheBudget) {
  RetentionBudget budget(1000);
  Pool pool(Capacity, &budget);
  grpc::MessageHolder<v1::PoolRequest, v1::PoolResponse>* big =
      pool.AllocateMessages();
  big->request()->mutable_input()->set_data(std::string(5000, 'x'));
  big->Release();
  EXPECT_EQ(budget.held(), 0u);
  grpc::MessageHolder<v1::PoolRequest, v1::PoolResponse>* small =
      pool.AllocateMessages();
  small->request()->mutable_input()->set_data(std::string(100, 'y'));
  small->Release();
  EXPECT_GT(budget.held(), 0u);
  EXPECT_LE(budget.held(), 1000u);
}

TEST(MessagePool, SharesOneBudgetAndReturnsItOnDestruction) {
  RetentionBudget budget(uint64_t{1} << 30);
  {
    Pool a(Capacity, &budget);
    Pool b(Capacity, &budget);
    auto* x = a.AllocateMessages();
    auto* y = b.AllocateMessages();
    x->request()->mutable_input()->set_data(std::string(4096, 'x'));
    y->request()->mutable_input()->set_data(std::string(8192, 'y'));
    x->Release();
    y->Release();
    EXPECT_GE(budget.held(), 4096u + 8192u);
  }
  EXPECT_EQ(budget.held(), 0u);
}

TEST(RetentionBudget, RefusesToGoOverTheLimit) {
  RetentionBudget budget(100);
  EXPECT_TRUE(budget.TryAdd(60));
  EXPECT_FALSE(budget.TryAdd(41));
  EXPECT_TRUE(budget.TryAdd(40));
  budget.Remove(100);
  EXPECT_EQ(budget.held(), 0u);
}

}  // namespace
}  // namespace poolcat::server
